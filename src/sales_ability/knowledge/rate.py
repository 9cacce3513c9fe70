"""Rating: a knowledge base (per-trait decile thresholds) turns trait values into 1..10 scores.

A positive trait (high is good for sales) scores ``1 + #(thresholds <= x)``; a negative one
``10 - #(thresholds <= x)``. The sales score is the mean of the five scores.

Traits are on the project's scale (``sales_ability.traits``: neuroticism high = anxious). The paper's
Table IV is kept verbatim (``paper_knowledge_base``); on this scale its rows are the deciles of First
Impressions' training labels within 0.01, except agreeableness, whose row is the deciles of ``1 - x`` (uneven
bins). Fitting a knowledge base is ``sales_ability.knowledge.fit``; scoring needs only this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.errors import SalesAbilityError
from sales_ability.io_utils import write_json_atomic
from sales_ability.traits import TRAITS

PAPER_DIRECTIONS: dict[str, str] = {
    "openness": "positive",
    "conscientiousness": "positive",
    "extraversion": "positive",
    "agreeableness": "negative",
    "neuroticism": "negative",
}


# Table IV of the paper, as ascending cut points between its ten ranges.
PAPER_TABLE_IV: dict[str, list[float]] = {
    "extraversion": [0.28, 0.35, 0.40, 0.44, 0.48, 0.51, 0.56, 0.60, 0.67],
    "openness": [0.38, 0.44, 0.49, 0.53, 0.57, 0.60, 0.64, 0.69, 0.75],
    "conscientiousness": [0.32, 0.39, 0.44, 0.48, 0.52, 0.56, 0.60, 0.65, 0.72],
    "agreeableness": [0.28, 0.34, 0.38, 0.42, 0.45, 0.49, 0.52, 0.57, 0.63],
    "neuroticism": [0.28, 0.35, 0.40, 0.44, 0.48, 0.52, 0.56, 0.61, 0.68],
}


class KnowledgeBaseError(SalesAbilityError):
    """A knowledge-base file or a label table is malformed."""


def paper_knowledge_base() -> dict:
    """The paper's Table IV, verbatim, with its directions."""
    return {
        "knowledge_base": "paper",
        "source": "Kassab et al., Human Sales Ability Estimation Based on Interview Video Analysis, Table IV",
        "traits": {
            t: {"direction": PAPER_DIRECTIONS[t], "thresholds": list(PAPER_TABLE_IV[t])} for t in TRAITS
        },
    }


def validate_knowledge_base(kb: dict, source: str | Path = "knowledge base") -> dict:
    """Check a knowledge base's structure; raise KnowledgeBaseError naming the problem."""
    if kb.get("knowledge_base") not in ("fitted", "paper", "profile") or not isinstance(kb.get("traits"), dict):
        raise KnowledgeBaseError(f"{source}: not a knowledge base (needs 'knowledge_base' and 'traits')")
    if kb["knowledge_base"] == "profile":
        profile = kb.get("profile") or {}
        shapes = {"mean": 2 * len(TRAITS), "scale": 2 * len(TRAITS), "coef": 2 * len(TRAITS), "deciles": 9}
        if not profile.get("name") or any(len(profile.get(k) or []) != n for k, n in shapes.items()) or "intercept" not in profile:
            raise KnowledgeBaseError(f"{source}: a role profile needs name, mean, scale, coef (10 each), intercept and 9 deciles")
    for trait in TRAITS:
        entry = kb["traits"].get(trait)
        if entry is None:
            raise KnowledgeBaseError(f"{source}: trait {trait} is missing")
        if entry.get("direction") not in ("positive", "negative"):
            raise KnowledgeBaseError(f"{source}: {trait}: direction must be positive or negative")
        th = entry.get("thresholds")
        if not isinstance(th, list) or len(th) != 9 or any(b < a for a, b in zip(th, th[1:], strict=False)):
            raise KnowledgeBaseError(f"{source}: {trait}: thresholds must be 9 ascending numbers")
    return kb


def load_knowledge_base(path: str | Path) -> dict:
    """Read and check a KB.json."""
    path = Path(path)
    if not path.is_file():
        raise KnowledgeBaseError(f"{path}: knowledge base not found")
    try:
        kb = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise KnowledgeBaseError(f"{path}: not JSON ({err})") from None
    return validate_knowledge_base(kb, path)


def save_knowledge_base(kb: dict, path: str | Path) -> None:
    """Write a KB.json atomically."""
    write_json_atomic(path, validate_knowledge_base(kb))


def with_directions(kb: dict, directions: dict[str, str]) -> dict:
    """A copy of ``kb`` with other directions (same thresholds; a role profile's own score is not a rule of
    directions, so the copy is the rule alone)."""
    out = json.loads(json.dumps(kb))
    if out.pop("profile", None) is not None:
        out["knowledge_base"] = "fitted"
    for trait, direction in directions.items():
        out["traits"][trait]["direction"] = direction
    return out


def trait_score(values: np.ndarray, thresholds: list[float], direction: str) -> np.ndarray:
    """1..10 scores of trait values under one row of the knowledge base."""
    count = np.searchsorted(np.asarray(thresholds, float), np.asarray(values, float), side="right")
    return (1 + count) if direction == "positive" else (10 - count)


def profile_scores(traits: np.ndarray, profile: dict) -> np.ndarray:
    """1..10 under a role profile (``outcomes.profiles``): the decile its predicted outcome falls in among the
    predictions for the hires it was fitted on (each trait enters as ``x - 0.5`` and its square, standardised)."""
    centred = np.asarray(traits, float).reshape(-1, len(TRAITS)) - 0.5
    features = (np.hstack([centred, centred ** 2]) - np.asarray(profile["mean"])) / np.asarray(profile["scale"])
    predicted = features @ np.asarray(profile["coef"]) + float(profile["intercept"])
    return (1 + np.searchsorted(np.asarray(profile["deciles"], float), predicted, side="right")).astype(float)


def sales_scores(traits: np.ndarray, kb: dict) -> np.ndarray:
    """Sales scores (unrounded) of an (N, 5) trait matrix in ``TRAITS`` order: the mean of the five trait
    scores, or a role profile's score when ``kb`` carries one."""
    traits = np.asarray(traits, float)
    if kb.get("profile"):
        return profile_scores(traits, kb["profile"]) if len(traits) else np.zeros(0)
    scores = [trait_score(traits[:, j], kb["traits"][t]["thresholds"], kb["traits"][t]["direction"]) for j, t in enumerate(TRAITS)]
    return np.mean(scores, axis=0) if len(traits) else np.zeros(0)


def bin_shares(values: np.ndarray, thresholds: list[float], direction: str) -> np.ndarray:
    """Share of ``values`` that gets each score 1..10."""
    scores = trait_score(values, thresholds, direction)
    return np.bincount(scores, minlength=11)[1:] / max(1, len(values))


def check_trait_table(frame: pd.DataFrame, source: str | Path, id_column: str | None = "clip_id") -> None:
    """Raise KnowledgeBaseError when a trait (or the id) column is missing."""
    needed = [*([id_column] if id_column else []), *TRAITS]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise KnowledgeBaseError(f"{source}: missing columns {', '.join(missing)}")


def rate(traits: pd.DataFrame, kb: dict, id_column: str = "clip_id") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rate every row: add ``score_<trait>`` (1..10) and ``sales_score`` (their mean).

    Returns:
        The rated rows, and the bad rows (``clip_id``, ``reason``): a missing or non-numeric trait, or a
        value outside [0, 1]. Bad rows are not rated; the rest are.
    """
    check_trait_table(traits, "traits", id_column)
    numeric = traits[list(TRAITS)].apply(pd.to_numeric, errors="coerce")
    reasons = pd.Series("", index=traits.index, dtype=object)
    for trait in TRAITS:
        raw = traits[trait]
        value = numeric[trait]
        missing = raw.isna() | (raw.astype(str).str.strip() == "")
        bad_number = ~missing & value.isna()
        out_of_range = value.notna() & ((value < 0) | (value > 1))
        reasons[missing] += f"{trait} missing; "
        reasons[bad_number] += f"{trait} is not a number; "
        reasons[out_of_range] += f"{trait} = " + value[out_of_range].astype(str) + " outside [0, 1]; "
    bad_mask = reasons != ""
    bad = pd.DataFrame({"clip_id": traits.loc[bad_mask, id_column].astype(str), "reason": reasons[bad_mask].str.rstrip("; ")})
    rated = traits.loc[~bad_mask].copy()
    for trait in TRAITS:
        rated[trait] = numeric.loc[~bad_mask, trait]
        entry = kb["traits"][trait]
        rated[f"score_{trait}"] = trait_score(rated[trait].to_numpy(), entry["thresholds"], entry["direction"]).astype(int)
    # the mean of the trait scores, or a role profile's own score (the trait scores stay, for the reader)
    rated["sales_score"] = sales_scores(rated[list(TRAITS)].to_numpy(float), kb).round(2)
    return rated.reset_index(drop=True), bad.reset_index(drop=True)
