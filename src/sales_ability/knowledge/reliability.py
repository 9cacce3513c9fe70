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
from sales_ability.model.evaluation import BOOTSTRAP_DRAWS, bootstrap_interval, pearson
from sales_ability.traits import TRAITS


def _spearman_brown(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    r = pearson(a, b)
    return 2 * r / (1 + r) if r > -1 else float("nan")


def split_half_reliability(segments: pd.DataFrame, kb: dict, seed: int = 0) -> dict:
    """Split-half reliability of the sales score (under ``kb``) and of each predicted trait; ``segments``
    holds ``participant_id``, ``source`` (the answer) and the traits."""
    frame = segments.assign(person=segments["participant_id"].astype(str), answer=segments["source"].astype(str))
    order = frame.groupby("person")["answer"].rank(method="dense").astype(int)
    frame = frame.assign(half=np.where(order % 2 == 1, "odd", "even"))
    halves = frame.groupby(["person", "half"])[list(TRAITS)].mean().unstack("half")
    halves = halves.reindex(columns=pd.MultiIndex.from_product([list(TRAITS), ["odd", "even"]], names=[None, "half"]))
    halves = halves.dropna()  # a person with one answer has no even half
    n = len(halves)
    report: dict = {"people": n, "method": "odd against even answers, Spearman-Brown corrected", "bootstrap_draws": 0}
    if n < 3:
        return report
    odd = halves.xs("odd", axis=1, level="half")[list(TRAITS)].to_numpy(float)
    even = halves.xs("even", axis=1, level="half")[list(TRAITS)].to_numpy(float)
    columns = {t: (odd[:, j], even[:, j]) for j, t in enumerate(TRAITS)}
    columns["sales_score"] = (sales_scores(odd, kb), sales_scores(even, kb))
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, n) for _ in range(BOOTSTRAP_DRAWS)]
    report["bootstrap_draws"] = len(draws)
    for name, (a, b) in columns.items():
        value = _spearman_brown(a, b)
        report[name] = {"value": round(value, 4) if np.isfinite(value) else None,
                        **bootstrap_interval([_spearman_brown(a[i], b[i]) for i in draws])}
    return report
