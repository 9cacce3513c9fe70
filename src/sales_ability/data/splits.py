"""Train/validation/test splits of a clip manifest.

``by_participant`` never puts one person in two splits. ``paper_2_1_1`` reproduces the paper, which sent
each participant's 4 clips 2/1/1 to train/validation/test: the same person is then in every split, so its
test score is optimistic. Keep it for reproduction only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sales_ability.config import SplitFractions, SplitStrategy
from sales_ability.errors import DatasetError


def split_by_participant(
    manifest: pd.DataFrame, fractions: SplitFractions, seed: int
) -> pd.Series:
    """Assign whole participants to splits so that each split gets about its fraction of participants."""
    participants = np.array(sorted(manifest["participant_id"].astype(str).unique()))
    if len(participants) < 3:
        raise DatasetError(f"by_participant needs at least 3 participants, found {len(participants)}")
    order = np.random.default_rng(seed).permutation(len(participants))
    n = len(participants)
    n_test = max(1, round(n * fractions.test))
    n_val = max(1, round(n * fractions.validation)) if fractions.validation > 0 else 0
    n_train = n - n_test - n_val
    if n_train < 1:
        raise DatasetError(f"by_participant: {n} participants are too few for the split fractions")
    assignment: dict[str, str] = {}
    for rank, idx in enumerate(order):
        split = "train" if rank < n_train else "validation" if rank < n_train + n_val else "test"
        assignment[participants[idx]] = split
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
