"""The knowledge base: per-trait decile thresholds that turn trait values into 1..10 scores.

A positive trait (high is good for sales) scores ``1 + #(thresholds <= x)``; a negative one
``10 - #(thresholds <= x)``. The sales score is the mean of the five scores.

Traits are on the project's scale (``sales_ability.traits``: neuroticism high = anxious). The paper's
Table IV is kept verbatim (``paper_knowledge_base``); on this scale its rows are the deciles of First
Impressions' training labels within 0.01, except agreeableness, whose row is the deciles of ``1 - x`` (uneven
bins).
``fit_knowledge_base`` fits a distribution per trait and uses its 10%..90% quantiles, so every bin holds
about 10% of the fitting data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sales_ability.errors import SalesAbilityError
from sales_ability.io_utils import write_json_atomic
from sales_ability.traits import TRAITS

DECILES = np.round(np.arange(0.1, 1.0, 0.1), 1)
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
_EPS = 1e-4


class KnowledgeBaseError(SalesAbilityError):
    """A knowledge-base file or a label table is malformed."""


@dataclass(frozen=True)
class FittedDistribution:
    """A distribution fitted by maximum likelihood to one trait."""

    name: str
    params: dict[str, float]
    aic: float
    ks_statistic: float
    ks_pvalue: float
    frozen: Any

    def to_json(self) -> dict:
        return {
            "name": self.name, "params": self.params, "aic": self.aic,
            "ks_statistic": self.ks_statistic, "ks_pvalue": self.ks_pvalue,
        }


def _truncnorm_01(x: np.ndarray) -> tuple[Any, dict[str, float], int]:
    """Normal truncated to [0, 1], fitted by maximum likelihood over loc and scale."""

    def nll(theta: np.ndarray) -> float:
        loc, log_scale = theta
        scale = math.exp(log_scale)
        return -float(np.sum(stats.truncnorm.logpdf(x, (0 - loc) / scale, (1 - loc) / scale, loc, scale)))

    res = optimize.minimize(nll, x0=[x.mean(), math.log(x.std() + 1e-6)], method="Nelder-Mead")
    loc, scale = float(res.x[0]), float(math.exp(res.x[1]))
    a, b = (0 - loc) / scale, (1 - loc) / scale
    return stats.truncnorm(a, b, loc, scale), {"a": a, "b": b, "loc": loc, "scale": scale}, 2


def _fit_one(name: str, x: np.ndarray) -> tuple[Any, dict[str, float], int]:
    if name == "beta":
        a, b, loc, scale = stats.beta.fit(np.clip(x, _EPS, 1 - _EPS), floc=0, fscale=1)
        return stats.beta(a, b, loc, scale), {"a": a, "b": b, "loc": loc, "scale": scale}, 2
    if name == "norm":
        loc, scale = stats.norm.fit(x)
        return stats.norm(loc, scale), {"loc": loc, "scale": scale}, 2
    if name == "skewnorm":
        a, loc, scale = stats.skewnorm.fit(x)
        return stats.skewnorm(a, loc, scale), {"a": a, "loc": loc, "scale": scale}, 3
    if name == "truncnorm":
        return _truncnorm_01(x)
    if name == "gamma":
        a, loc, scale = stats.gamma.fit(np.clip(x, _EPS, None), floc=0)
        return stats.gamma(a, loc, scale), {"a": a, "loc": loc, "scale": scale}, 2
    raise ValueError(f"unknown distribution {name!r}")


def fit_distribution(values: np.ndarray, candidates: list[str]) -> FittedDistribution:
    """Fit each candidate by maximum likelihood and keep the one with the lowest AIC."""
    x = np.asarray(values, dtype=float)
    best: FittedDistribution | None = None
    for name in candidates:
        frozen, params, k = _fit_one(name, x)
        loglik = float(np.sum(frozen.logpdf(np.clip(x, _EPS, 1 - _EPS) if name in ("beta", "gamma") else x)))
        if not math.isfinite(loglik):
            continue
        aic = 2 * k - 2 * loglik
        ks = stats.kstest(x, frozen.cdf)
        fitted = FittedDistribution(
            name, {k_: float(v) for k_, v in params.items()}, float(aic),
            float(ks.statistic), float(ks.pvalue), frozen,
        )
        if best is None or fitted.aic < best.aic:
            best = fitted
    if best is None:
        raise KnowledgeBaseError("no candidate distribution could be fitted")
    return best


def fit_knowledge_base(
    labels: pd.DataFrame,
    directions: dict[str, str] | None = None,
    candidates: list[str] | None = None,
    source: str = "",
) -> dict:
    """Fit thresholds (the fitted distribution's deciles) for every trait.

    Args:
        labels: a table with the five trait columns (values in [0, 1]).
        directions: trait -> positive | negative (default: the paper's).
        candidates: scipy.stats distribution names to choose from by AIC.
        source: where the labels came from (recorded in the knowledge base).
    """
    directions = directions or PAPER_DIRECTIONS
    candidates = candidates or ["beta", "norm", "skewnorm", "truncnorm", "gamma"]
    check_trait_table(labels, source or "labels", id_column=None)
    traits: dict[str, dict] = {}
    for trait in TRAITS:
        values = labels[trait].to_numpy(dtype=float)
        dist = fit_distribution(values, candidates)
        thresholds = [float(np.clip(q, 0.0, 1.0)) for q in dist.frozen.ppf(DECILES)]
        traits[trait] = {
            "direction": directions[trait],
            "thresholds": [round(t, 6) for t in thresholds],
            "distribution": dist.to_json(),
        }
    return {"knowledge_base": "fitted", "source": str(source), "n": int(len(labels)), "traits": traits}


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
    if kb.get("knowledge_base") not in ("fitted", "paper") or not isinstance(kb.get("traits"), dict):
        raise KnowledgeBaseError(f"{source}: not a knowledge base (needs 'knowledge_base' and 'traits')")
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
    """A copy of ``kb`` with other directions (same thresholds)."""
    out = json.loads(json.dumps(kb))
    for trait, direction in directions.items():
        out["traits"][trait]["direction"] = direction
    return out


def trait_score(values: np.ndarray, thresholds: list[float], direction: str) -> np.ndarray:
    """1..10 scores of trait values under one row of the knowledge base."""
    count = np.searchsorted(np.asarray(thresholds, float), np.asarray(values, float), side="right")
    return (1 + count) if direction == "positive" else (10 - count)


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
    rated["sales_score"] = rated[[f"score_{t}" for t in TRAITS]].mean(axis=1).round(2)
    return rated.reset_index(drop=True), bad.reset_index(drop=True)


def compare_with_paper(labels: pd.DataFrame, fitted: dict) -> pd.DataFrame:
    """Per trait and score 1..10: fitted and Table IV bin edges, and each bin's share of ``labels``."""
    paper = paper_knowledge_base()
    rows = []
    for trait in TRAITS:
        x = labels[trait].to_numpy(float)
        f_entry, p_entry = fitted["traits"][trait], paper["traits"][trait]
        f_share = bin_shares(x, f_entry["thresholds"], f_entry["direction"])
        p_share = bin_shares(x, p_entry["thresholds"], p_entry["direction"])
        for score in range(1, 11):
            rows.append({
                "trait": trait, "score": score,
                "fitted_range": _range_text(f_entry["thresholds"], f_entry["direction"], score),
                "fitted_share": float(f_share[score - 1]),
                "paper_range": _range_text(p_entry["thresholds"], p_entry["direction"], score),
                "paper_share": float(p_share[score - 1]),
            })
    return pd.DataFrame(rows)


def threshold_match(fitted: dict) -> dict[str, dict]:
    """Per trait: the fitted cut points, Table IV's, and the largest absolute difference between them."""
    out = {}
    for trait in TRAITS:
        f = np.asarray(fitted["traits"][trait]["thresholds"], float)
        p = np.asarray(PAPER_TABLE_IV[trait], float)
        out[trait] = {"fitted": f.round(4).tolist(), "paper": p.tolist(), "max_abs_diff": round(float(np.abs(f - p).max()), 4)}
    return out


def _range_text(thresholds: list[float], direction: str, score: int) -> str:
    edges = [0.0, *thresholds, 1.0]
    k = score - 1 if direction == "positive" else 10 - score
    return f"[{edges[k]:.3f}, {edges[k + 1]:.3f})"


def read_trait_table(path: str | Path, fi_neuroticism_is_stability: bool = True) -> pd.DataFrame:
    """Trait values as they are in a file: a First Impressions annotation pickle (read by the FI adapter, so
    on the project's scale), or a CSV/Parquet with the trait columns (already on the project's scale).

    Raises:
        KnowledgeBaseError: the file is missing, of another kind, or lacks a trait column.
    """
    from sales_ability.datasets import load_fi_annotation

    path = Path(path)
    if not path.is_file():
        raise KnowledgeBaseError(f"{path}: file not found")
    if path.suffix == ".pkl":
        return load_fi_annotation(path, fi_neuroticism_is_stability)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"clip_id": str})
    else:
        raise KnowledgeBaseError(f"{path}: expected a .pkl, .csv or .parquet file")
    check_trait_table(frame, path, id_column=None)
    return frame


def read_trait_labels(path: str | Path, fi_neuroticism_is_stability: bool = True) -> pd.DataFrame:
    """Labels to fit thresholds on (``read_trait_table``): rows without labels dropped, values checked.

    Raises:
        KnowledgeBaseError: as ``read_trait_table``, or a value outside [0, 1] (its row named).
    """
    frame = read_trait_table(path, fi_neuroticism_is_stability).dropna(subset=list(TRAITS))
    for trait in TRAITS:
        bad = (frame[trait] < 0) | (frame[trait] > 1)
        if bad.any():
            raise KnowledgeBaseError(f"{path}: row {bad.idxmax()}: {trait} outside [0, 1]")
    return frame
