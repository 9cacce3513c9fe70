"""Eq. 1 of the paper and the figures an analyst checks a model with, per segment and per person."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sales_ability.traits import TRAITS

BOOTSTRAP_DRAWS = 2000  # resamples of people for a 95% percentile interval


def mean_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Eq. 1: ``1 - mean |p - t|`` over the five traits and N clips."""
    return float(1.0 - np.mean(np.abs(np.asarray(pred, float) - np.asarray(true, float))))


def concordance(pred: np.ndarray, true: np.ndarray) -> float:
    """Lin's concordance correlation coefficient."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    cov = np.mean((p - p.mean()) * (t - t.mean()))
    denom = p.var() + t.var() + (p.mean() - t.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


def pearson(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson correlation (0 where either side is constant)."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    if p.std() == 0 or t.std() == 0:
        return 0.0
    return float(np.corrcoef(p, t)[0, 1])


def regression_report(pred: np.ndarray, true: np.ndarray, train_means: list[float]) -> dict:
    """Everything the ``evaluate`` stage writes for one split.

    Args:
        pred, true: (N, 5) in ``TRAITS`` order.
        train_means: the training-set mean of each trait (the baseline predicts these).
    """
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    baseline = np.broadcast_to(np.asarray(train_means, float), true.shape)
    report: dict = {
        "n": int(len(true)),
        "mean_accuracy": round(mean_accuracy(pred, true), 6),
        "baseline_mean_accuracy": round(mean_accuracy(baseline, true), 6),
        "mse": round(float(np.mean((pred - true) ** 2)), 6),
        "baseline_mse": round(float(np.mean((baseline - true) ** 2)), 6),
    }
    for j, trait in enumerate(TRAITS):
        report[trait] = {
            "accuracy": round(mean_accuracy(pred[:, j], true[:, j]), 6),
            "baseline_accuracy": round(mean_accuracy(baseline[:, j], true[:, j]), 6),
            "mse": round(float(np.mean((pred[:, j] - true[:, j]) ** 2)), 6),
            "pearson": round(pearson(pred[:, j], true[:, j]), 4),
            "concordance": round(concordance(pred[:, j], true[:, j]), 4),
        }
    return report


def bootstrap_interval(values: list[float]) -> dict:
    """The 2.5th and 97.5th percentiles of bootstrap draws (None with fewer than 10 finite draws)."""
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if len(finite) < 10:
        return {"ci95_low": None, "ci95_high": None}
    return {"ci95_low": round(float(np.percentile(finite, 2.5)), 4),
            "ci95_high": round(float(np.percentile(finite, 97.5)), 4)}


def people_report(segments: pd.DataFrame, train_means: list[float], seed: int = 0) -> dict:
    """The figures per person, the unit a recruiter reads: each person is the mean of their segments'
    predicted and true traits (as an applicant row is made); Eq. 1 (and the constant predictor's), Pearson and
    concordance per trait over people, each with a 95% percentile bootstrap interval that resamples people.
    ``segments`` holds ``participant_id``, the traits and ``true_<trait>``."""
    people = segments.groupby(segments["participant_id"].astype(str), sort=True)[
        [*TRAITS, *(f"true_{t}" for t in TRAITS)]].mean()
    pred, true = people[list(TRAITS)].to_numpy(float), people[[f"true_{t}" for t in TRAITS]].to_numpy(float)
    baseline = np.broadcast_to(np.asarray(train_means, float), true.shape)
    n = len(people)

    def figures(idx: np.ndarray) -> dict:
        p, t, b = pred[idx], true[idx], baseline[idx]
        out = {"mean_accuracy": mean_accuracy(p, t), "baseline_mean_accuracy": mean_accuracy(b, t)}
        for j, trait in enumerate(TRAITS):
            out[f"{trait}.pearson"] = pearson(p[:, j], t[:, j])
            out[f"{trait}.concordance"] = concordance(p[:, j], t[:, j])
        return out

    point = figures(np.arange(n))
    rng = np.random.default_rng(seed)
    draws = [figures(rng.integers(0, n, n)) for _ in range(BOOTSTRAP_DRAWS)] if n >= 3 else []
    report: dict = {"people": n, "segments": int(len(segments)), "bootstrap_draws": len(draws)}
    for key, value in point.items():
        trait, _, name = key.rpartition(".")
        entry = {"value": round(value, 4), **bootstrap_interval([d[key] for d in draws])}
        if trait:
            report.setdefault(trait, {})[name] = entry
        else:
            report[name] = entry
    return report
