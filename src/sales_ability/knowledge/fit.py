"""Fitting a knowledge base: a distribution per trait, chosen by AIC, whose 10%..90% quantiles are the
thresholds, so every bin holds about 10% of the fitting data; the comparison with the paper's Table IV;
reading trait tables (FI pickles, CSV, Parquet) on the project's scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sales_ability.data.datasets import load_fi_annotation
from sales_ability.knowledge.rate import (
    PAPER_DIRECTIONS,
    PAPER_TABLE_IV,
    KnowledgeBaseError,
    bin_shares,
    check_trait_table,
    paper_knowledge_base,
)
from sales_ability.traits import TRAITS

DECILES = np.round(np.arange(0.1, 1.0, 0.1), 1)

_EPS = 1e-4


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
