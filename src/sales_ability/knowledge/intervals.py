"""Intervals that mean what they say: split conformal on the validation split, never on test.

Calibration set (``sales_ability.model.calibration``: ``calibration.json`` beside ``model.keras``, written by
the train and finetune stages and logged with the model): the model's predictions and the true traits of every validation segment. From it,
for a nominal ``coverage`` (params ``intervals.coverage``):

- per trait, ``q_t`` = the ``ceil((n + 1) * coverage)``-th smallest ``|predicted - true|`` (split conformal:
  a new exchangeable segment's true trait lies in ``predicted ± q_t`` with probability >= coverage);
- for the sales score, ``q_S`` the same quantile of ``|S(predicted) - S(true)|``, with ``S`` the knowledge base
  in use (so a new knowledge base needs no new calibration). Propagating the five trait intervals through
  the thresholds instead would bound the score only when all five cover at once: far wider than needed.

Per-trait 1..10 scores get the scores of their interval's ends. Intervals are clipped to [0, 1] and [1, 10].

**An applicant's interval is calibrated on people, not segments.** One person's segments share their errors
(same face, same light, one label), so the unit of exchangeability is the person: each calibration person
is reduced to what an applicant row is (the mean of their segments' predicted traits, their true traits)
and the applicant half-widths are the same conformal quantile of those per-person residuals. A new person
exchangeable with the calibration people is then covered with probability >= coverage. It needs
``ceil(1 / (1 - coverage)) - 1`` people (9 for 90%): with fewer the half-width is infinite, so the
interval spans the whole scale and says so, instead of borrowing the segment width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from sales_ability.knowledge.rate import sales_scores, trait_score
from sales_ability.traits import TRAITS


def conformal_quantile(residuals: np.ndarray, coverage: float) -> float:
    """The split-conformal half-width: the ``ceil((n + 1) * coverage)``-th smallest residual (inf when n is
    too small for that coverage)."""
    residuals = np.sort(np.abs(np.asarray(residuals, float)))
    rank = math.ceil((len(residuals) + 1) * coverage)
    return float(residuals[rank - 1]) if 1 <= rank <= len(residuals) else math.inf


@dataclass(frozen=True)
class Intervals:
    """Half-widths for one model version, knowledge base and coverage: per segment, and per applicant
    (calibrated on calibration people)."""

    coverage: float
    n: int  # calibration segments
    trait: dict[str, float]
    sales_score: float
    people: int = 0  # calibration people
    applicant_trait: dict[str, float] | None = None  # None: infinite (too few people)
    applicant_sales_score: float = math.inf

    def for_applicants(self) -> Intervals:
        """The half-widths an applicant row gets (infinite per trait when not calibrated on people)."""
        return replace(self, trait=self.applicant_trait or dict.fromkeys(TRAITS, math.inf),
                       sales_score=self.applicant_sales_score)

    def to_dict(self) -> dict:
        return asdict(self)


def _half_widths(predicted: np.ndarray, true: np.ndarray, kb: dict, coverage: float) -> tuple[dict[str, float], float]:
    """The conformal half-width of each trait and of the sales score from rows of (N, 5) predictions and truths."""
    trait = {t: conformal_quantile(predicted[:, j] - true[:, j], coverage) for j, t in enumerate(TRAITS)}
    return trait, conformal_quantile(sales_scores(predicted, kb) - sales_scores(true, kb), coverage)


def fit_intervals(calibration: dict | None, kb: dict, coverage: float) -> Intervals:
    """Conformal half-widths per trait and for the sales score under ``kb`` (unbounded without a
    calibration set: a model saved before they existed gets intervals spanning the whole scale)."""
    if not calibration or not calibration.get("n"):
        return Intervals(coverage, 0, dict.fromkeys(TRAITS, math.inf), math.inf)

    predicted = np.column_stack([calibration["predicted"][t] for t in TRAITS]).astype(float)
    true = np.column_stack([calibration["true"][t] for t in TRAITS]).astype(float)
    trait, sales = _half_widths(predicted, true, kb, coverage)
    people = calibration.get("participant_id")
    if not people or len(people) != len(predicted):
        return Intervals(coverage, int(len(predicted)), trait, sales)
    # one row per calibration person, made as an applicant row is: the mean of their segments
    per_person = pd.DataFrame(np.hstack([predicted, true])).groupby(np.asarray(people, str)).mean().to_numpy()
    applicant, applicant_sales = _half_widths(per_person[:, :len(TRAITS)], per_person[:, len(TRAITS):], kb, coverage)
    return Intervals(coverage, int(len(predicted)), trait, sales, int(len(per_person)), applicant, applicant_sales)


def people_needed(coverage: float) -> int:
    """The fewest calibration people that give a finite person-level interval at ``coverage``."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie in (0, 1), got {coverage}")
    n = 1
    while math.ceil((n + 1) * coverage) > n:  # the rank conformal_quantile takes must exist among n residuals
        n += 1
    return n


def with_intervals(rated: pd.DataFrame, kb: dict, intervals: Intervals) -> pd.DataFrame:
    """``rated`` (traits, ``score_<trait>``, ``sales_score``) with ``<trait>_low/_high``,
    ``score_<trait>_low/_high`` and ``sales_score_low/_high``."""
    out = rated.copy()
    for t in TRAITS:
        q = intervals.trait[t]
        low, high = (out[t] - q).clip(0, 1), (out[t] + q).clip(0, 1)
        out[f"{t}_low"], out[f"{t}_high"] = low.round(6), high.round(6)
        entry = kb["traits"][t]
        a = trait_score(low.to_numpy(), entry["thresholds"], entry["direction"])
        b = trait_score(high.to_numpy(), entry["thresholds"], entry["direction"])
        out[f"score_{t}_low"], out[f"score_{t}_high"] = np.minimum(a, b).astype(int), np.maximum(a, b).astype(int)
    out["sales_score_low"] = (out["sales_score"] - intervals.sales_score).clip(1, 10).round(2)
    out["sales_score_high"] = (out["sales_score"] + intervals.sales_score).clip(1, 10).round(2)
    return out


def interval_coverage(rated: pd.DataFrame, kb: dict) -> dict:
    """Share of rows whose true trait (``true_<trait>``) and true sales score lie in their intervals, and
    the mean widths; ``all_five_traits``: the share whose five trait intervals all hold at once."""
    true = rated[[f"true_{t}" for t in TRAITS]].to_numpy(float)
    report: dict = {"n": int(len(rated))}
    every = np.ones(len(rated), bool)
    for j, t in enumerate(TRAITS):
        inside = (true[:, j] >= rated[f"{t}_low"] - 1e-9) & (true[:, j] <= rated[f"{t}_high"] + 1e-9)
        every &= inside.to_numpy()
        report[t] = {"coverage": round(float(inside.mean()), 4),
                     "mean_width": round(float((rated[f"{t}_high"] - rated[f"{t}_low"]).mean()), 4)}
    # the trait intervals are per trait: all five hold at once less often than each does
    report["all_five_traits"] = {"coverage": round(float(every.mean()), 4) if len(rated) else float("nan")}
    s_true = sales_scores(true, kb)
    inside = (s_true >= rated["sales_score_low"] - 1e-9) & (s_true <= rated["sales_score_high"] + 1e-9)
    report["sales_score"] = {"coverage": round(float(inside.mean()), 4),
                             "mean_width": round(float((rated["sales_score_high"] - rated["sales_score_low"]).mean()), 4)}
    return report
