"""Split-half reliability: would an applicant's score hold had they given other answers of the same kind?

Each person's answers are split in two halves (odd and even answers, in their order); the predicted traits
and the sales score are averaged per half; the correlation of the two halves across people, Spearman-Brown
corrected to the full set of answers (``2r / (1 + r)``), is the reliability, with a 95% bootstrap interval
that resamples people. People with a single answer are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sales_ability.knowledge.rate import sales_scores
from sales_ability.model.evaluation import BOOTSTRAP_DRAWS, bootstrap_interval
from sales_ability.traits import TRAITS


def _spearman_brown(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman-Brown corrected Pearson correlation of ``a`` and ``b`` along their last axis (one value per
    row of bootstrap draws; NaN where either side is constant)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a - a.mean(axis=-1, keepdims=True), b - b.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denominator > 1e-12, (a * b).sum(axis=-1) / np.where(denominator > 1e-12, denominator, 1), np.nan)
        return np.where(r > -1, 2 * r / (1 + r), np.nan)


def answer_halves(segments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per person with at least two answers (index ``participant_id``): the mean predicted traits of their odd
    answers and of their even answers (answers in the order of their names; a segment goes with its answer)."""
    frame = segments.assign(person=segments["participant_id"].astype(str), answer=segments["source"].astype(str))
    order = frame.groupby("person")["answer"].rank(method="dense").astype(int)
    frame = frame.assign(half=np.where(order % 2 == 1, "odd", "even"))
    halves = frame.groupby(["person", "half"])[list(TRAITS)].mean().unstack("half")
    halves = halves.reindex(columns=pd.MultiIndex.from_product([list(TRAITS), ["odd", "even"]], names=[None, "half"]))
    halves = halves.dropna()  # a person with one answer has no even half
    return (halves.xs("odd", axis=1, level="half")[list(TRAITS)].rename_axis("participant_id"),
            halves.xs("even", axis=1, level="half")[list(TRAITS)].rename_axis("participant_id"))


def half_differences(segments: pd.DataFrame, kb: dict) -> pd.Series:
    """Per person with at least two answers: the sales score of their odd answers minus that of their even
    answers (how far the applicant's own answers disagree)."""
    odd, even = answer_halves(segments)
    return pd.Series(sales_scores(odd.to_numpy(float), kb) - sales_scores(even.to_numpy(float), kb), index=odd.index,
                     name="half_difference")


def split_half_reliability(segments: pd.DataFrame, kb: dict, seed: int = 0) -> dict:
    """Split-half reliability of the sales score (under ``kb``) and of each predicted trait; ``segments``
    holds ``participant_id``, ``source`` (the answer) and the traits."""
    odd_frame, even_frame = answer_halves(segments)
    n = len(odd_frame)
    report: dict = {"people": n, "method": "odd against even answers, Spearman-Brown corrected", "bootstrap_draws": 0}
    if n < 3:
        return report
    odd, even = odd_frame.to_numpy(float), even_frame.to_numpy(float)
    columns = {t: (odd[:, j], even[:, j]) for j, t in enumerate(TRAITS)}
    columns["sales_score"] = (sales_scores(odd, kb), sales_scores(even, kb))
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, n) for _ in range(BOOTSTRAP_DRAWS)]
    report["bootstrap_draws"] = len(draws)
    draws = np.stack(draws)
    for name, (a, b) in columns.items():
        value = float(_spearman_brown(a, b))
        report[name] = {"value": round(value, 4) if np.isfinite(value) else None,
                        **bootstrap_interval(list(_spearman_brown(a[draws], b[draws])))}
    return report
