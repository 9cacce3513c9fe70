"""Eq. 1 of the paper and the figures an analyst checks a model with."""

from __future__ import annotations

import numpy as np

from sales_ability.traits import TRAITS


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
