"""Train/validation/calibration/selection/test splits of a clip manifest.

The validation people stop training early (the weights are chosen on them). ``calibration`` (empty unless its
fraction is set) holds the people the intervals are calibrated on, whom nothing was trained or stopped on;
without it the validation people calibrate too. ``selection`` (empty unless set) holds the people promotion
compares models on. Test is reported and never used to choose.

``by_participant`` never puts one person in two splits. ``paper_2_1_1`` reproduces the paper, which sent
each participant's 4 clips 2/1/1 to train/validation/test: the same person is then in every split, so its
test score is optimistic. Keep it for reproduction only.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from sales_ability.config import SplitFractions, SplitStrategy
from sales_ability.errors import DatasetError


def stable_unit(participant_id: str, seed: int) -> float:
    """A participant's fixed place in [0, 1): a salted hash of the id, the same whoever else is in the data."""
    digest = hashlib.sha256(f"{seed}:{participant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_participant(
    manifest: pd.DataFrame, fractions: SplitFractions, seed: int
) -> pd.Series:
    """Assign whole participants to splits by a salted hash of their id into the split fractions.

    Stable as data grow: adding participants never moves an existing one, so yesterday's model was never
    trained on anyone in today's test split, and test figures of successive versions rest on the same people.
    Only where a split would otherwise be empty (a handful of people) is the participant whose hash lies
    nearest to that split's share moved into it, so every split with a fraction has somebody.
    """
    participants = sorted(manifest["participant_id"].astype(str).unique())
    edges = np.cumsum([fractions.train, fractions.validation, fractions.calibration, fractions.selection])
    bounds = {"train": (0.0, edges[0]), "validation": (edges[0], edges[1]), "calibration": (edges[1], edges[2]),
              "selection": (edges[2], edges[3]), "test": (edges[3], 1.0)}
    needed = max(3, sum(hi > lo for lo, hi in bounds.values()))
    if len(participants) < needed:
        raise DatasetError(f"by_participant needs at least {needed} participants, found {len(participants)}")
    place = {p: stable_unit(p, seed) for p in participants}
    assignment = {p: next(s for s, (lo, hi) in bounds.items() if u < hi or s == "test") for p, u in place.items()}
    for split, (lo, hi) in bounds.items():
        if hi > lo and split not in assignment.values():
            counts = pd.Series(assignment).value_counts()
            donors = [p for p in participants if counts[assignment[p]] > 1]
            nearest = min(donors, key=lambda p: min(abs(place[p] - lo), abs(place[p] - hi)))
            assignment[nearest] = split
    return manifest["participant_id"].astype(str).map(assignment).rename("split")


def split_paper_2_1_1(manifest: pd.DataFrame, seed: int) -> pd.Series:
    """Each participant's clips go 2/1/1 to train/validation/test (cycled for more than 4 clips)."""
    rng = np.random.default_rng(seed)
    pattern = ["train", "train", "validation", "test"]
    split = pd.Series(index=manifest.index, dtype=object, name="split")
    for _, group in manifest.groupby(manifest["participant_id"].astype(str), sort=True):
        order = rng.permutation(len(group))
        for rank, idx in enumerate(order):
            split.loc[group.index[idx]] = pattern[rank % 4]
    return split


def assign_splits(
    manifest: pd.DataFrame, strategy: SplitStrategy, fractions: SplitFractions, seed: int
) -> pd.DataFrame:
    """Return the manifest with its ``split`` column set by ``strategy``.

    ``official`` keeps the split the dataset adapter read from the annotation files.
    """
    out = manifest.copy()
    if strategy == "official":
        if "split" not in out or out["split"].isna().any():
            raise DatasetError("split 'official' needs a dataset with official splits (First Impressions)")
        return out
    if strategy == "by_participant":
        out["split"] = split_by_participant(out, fractions, seed)
    elif strategy == "paper_2_1_1":
        out["split"] = split_paper_2_1_1(out, seed)
    else:  # pragma: no cover - pydantic restricts the values
        raise DatasetError(f"unknown split strategy {strategy!r}")
    return out
