"""Intervals that mean what they say: split conformal on held-out people, never on test.

Calibration set (``sales_ability.model.calibration``: ``calibration.json`` beside ``model.keras``, written by
the train and finetune stages and logged with the model): the predictions and true traits of the
``calibration`` split's segments (people nothing was trained or early-stopped on; the validation split where
the split fractions give no calibration share, which ``split`` says). For a nominal ``coverage`` (params
``intervals.coverage``):

**A segment's interval** (a single 15 s clip): per trait, ``q_t`` = the ``ceil((n + 1) * coverage)``-th
smallest ``|predicted - true|`` over the calibration segments; for the sales score the same quantile of
``|S(predicted) - S(true)|``, with ``S`` the knowledge base in use (a new knowledge base needs no new
calibration). Per-trait 1..10 scores get the scores of their interval's ends; intervals are clipped to
[0, 1] and [1, 10].

**An applicant's interval is calibrated on people, not segments, and adapts to the applicant.** One person's
segments share their errors (same face, same light, one label), so the unit of exchangeability is the
person: each calibration person is reduced to what an applicant row is (the mean of their segments) and
gives one residual ``r``. The residual is divided by a *difficulty* known before the truth is
(normalised split conformal)::

    sigma^2 = floor + within / (segments * face_share)

with ``within`` the variance between the person's own segments, shrunk towards the pooled one (which weighs
as much as four segments; a single segment takes the pooled one), and
``face_share`` their share of frames with a face (at least 0.25). ``floor`` (the error no number of segments
averages away) and the pooled ``within`` are estimated on *other* people: the validation split's (the
``difficulty`` set), so the calibration people's labels choose nothing but the quantile. The applicant
half-width is ``q * sigma``, ``q`` the conformal quantile of ``|r| / sigma`` over the calibration people: a
new person exchangeable with them is covered with probability >= coverage whatever ``sigma`` is, and one
consistent, well-lit applicant with fifteen segments gets a narrower interval than one 11 s answer. It
needs ``ceil(1 / (1 - coverage)) - 1`` people (9 for 90%): with fewer the half-width is infinite, so the
interval spans the whole scale and says so.

**Answers that disagree.** Each calibration person with two answers or more gives the sales score of their
odd answers minus that of their even ones; an applicant whose own difference lies beyond the conformal
quantile of those (at ``coverage``) is flagged: their answers disagree more than the model's reliability
allows for people like the calibration people.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from sales_ability.knowledge.quantile_map import map_traits
from sales_ability.knowledge.rate import sales_scores, trait_score
from sales_ability.knowledge.reliability import half_differences, split_half_reliability
from sales_ability.model.calibration import calibration_frame
from sales_ability.traits import TRAITS


KEYS: tuple[str, ...] = (*TRAITS, "sales_score")  # what an interval is given for
MIN_FACE_SHARE = 0.25  # a face share below this counts as this (featurize rejects clips under 0.5 anyway)
PRIOR_SEGMENTS = 4  # how many segments' worth the pooled within-person variance weighs against a person's own


def conformal_quantile(residuals: np.ndarray, coverage: float) -> float:
    """The split-conformal half-width: the ``ceil((n + 1) * coverage)``-th smallest residual (inf when n is
    too small for that coverage)."""
    residuals = np.sort(np.abs(np.asarray(residuals, float)))
    rank = math.ceil((len(residuals) + 1) * coverage)
    return float(residuals[rank - 1]) if 1 <= rank <= len(residuals) else math.inf


def person_table(segments: pd.DataFrame, kb: dict) -> pd.DataFrame:
    """Per person (index ``participant_id``, sorted): mean predicted traits and their sales score, the same of
    ``true_<trait>`` where present (``true_sales_score``), ``var_<key>`` (variance between the person's own
    segments of each trait and of the segment sales score; NaN for one segment), ``segments`` and the mean
    ``face_share`` (1 where unknown)."""
    frame = segments[list(TRAITS)].astype(float).reset_index(drop=True)
    frame["sales_score"] = sales_scores(frame[list(TRAITS)].to_numpy(float), kb)
    frame["face_share"] = segments["face_share"].to_numpy(float) if "face_share" in segments else 1.0
    trues = [f"true_{t}" for t in TRAITS]
    labelled = all(c in segments for c in trues)
    if labelled:
        frame[trues] = segments[trues].to_numpy(float)
    grouped = frame.groupby(segments["participant_id"].astype(str).to_numpy(), sort=True)
    table = grouped[[*TRAITS, *(trues if labelled else [])]].mean()
    table["sales_score"] = sales_scores(table[list(TRAITS)].to_numpy(float), kb)
    if labelled:
        table["true_sales_score"] = sales_scores(table[trues].to_numpy(float), kb)
    table[[f"var_{k}" for k in KEYS]] = grouped[list(KEYS)].var(ddof=1).to_numpy()
    table["segments"] = grouped.size()
    table["face_share"] = grouped["face_share"].mean().fillna(1.0).clip(MIN_FACE_SHARE, 1.0)
    return table.rename_axis("participant_id")


@dataclass(frozen=True)
class Difficulty:
    """``sigma^2 = floor + within / (segments * face_share)`` per key (each trait and the sales score)."""

    floor: dict[str, float]
    within: dict[str, float]  # pooled variance between one person's segments: a one-segment applicant's
    people: int  # the people it was estimated on
    split: str  # whose they were

    def scale(self, table: pd.DataFrame) -> pd.DataFrame:
        """``sigma`` per person of a ``person_table`` and per key."""
        out = pd.DataFrame(index=table.index)
        segments = table["segments"].to_numpy(float)
        for k in KEYS:
            # a variance from two or three segments is itself a guess: shrunk towards the pooled one, which counts
            # as PRIOR_SEGMENTS segments' worth (a single segment takes the pooled one)
            own = table[f"var_{k}"].fillna(0.0).to_numpy(float) * (segments - 1)
            within = (own + PRIOR_SEGMENTS * self.within[k]) / (segments - 1 + PRIOR_SEGMENTS)
            out[k] = np.sqrt(self.floor[k] + within / (segments * table["face_share"].to_numpy(float)))
        return out


def estimate_difficulty(table: pd.DataFrame, split: str) -> Difficulty:
    """The pooled within-person variance and the floor (mean squared person residual minus what the
    segments' own spread explains), per key, from a labelled ``person_table``. The floor is kept above a
    tenth of the pooled variance, so sigma is never 0."""
    several = table["segments"] > 1
    within = {}
    for k in KEYS:
        weights = (table.loc[several, "segments"] - 1).to_numpy(float)
        within[k] = float(np.average(table.loc[several, f"var_{k}"], weights=weights)) if weights.sum() > 0 else 0.0
    spread = Difficulty(dict.fromkeys(KEYS, 0.0), within, len(table), split).scale(table) ** 2  # what segments explain
    floor = {k: max(float(np.mean((table[k] - table[f"true_{k}"]) ** 2) - spread[k].mean()), 0.1 * within[k], 1e-8)
             for k in KEYS}
    return Difficulty(floor, within, int(len(table)), split)


@dataclass(frozen=True)
class Intervals:
    """Half-widths for one model version, knowledge base and coverage: per segment, and per applicant
    (normalised conformal on calibration people, see the module's text)."""

    coverage: float
    n: int  # calibration segments
    trait: dict[str, float]  # segment half-widths
    sales_score: float
    people: int = 0  # calibration people
    split: str = "validation"  # which split's people calibrated
    applicant_scale: dict[str, float] | None = None  # per key, the quantile of |r| / sigma; None: too few people
    difficulty: Difficulty | None = None
    disagreement: float = math.inf  # an applicant's |odd - even| sales score beyond this: answers disagree
    disagreement_people: int = 0  # calibration people with two answers or more
    reliability: dict = field(default_factory=dict)  # split-half reliability on the calibration people

    def segment_half_widths(self) -> dict[str, float]:
        return {**self.trait, "sales_score": self.sales_score}

    def applicant_half_widths(self, table: pd.DataFrame) -> pd.DataFrame:
        """Per person of a ``person_table``, the half-width of each key (inf when not calibrated on people)."""
        if self.applicant_scale is None or self.difficulty is None:
            return pd.DataFrame(math.inf, index=table.index, columns=list(KEYS))
        return self.difficulty.scale(table) * pd.Series(self.applicant_scale)

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
    frame = map_traits(calibration_frame(calibration), kb, calibration)  # as traits are served
    predicted, true = frame[list(TRAITS)].to_numpy(float), frame[[f"true_{t}" for t in TRAITS]].to_numpy(float)
    trait, sales = _half_widths(predicted, true, kb, coverage)
    split = str(calibration.get("split", "validation"))
    if not calibration.get("participant_id"):  # a set saved before people were recorded: segments only
        return Intervals(coverage, len(frame), trait, sales, split=split)
    table = person_table(frame, kb)
    estimation = calibration.get("difficulty")
    if estimation and estimation.get("n"):  # other people's: the guarantee holds
        difficulty = estimate_difficulty(person_table(map_traits(calibration_frame(estimation), kb, calibration), kb),
                                         "validation")
    else:  # the calibration people themselves (no calibration split): said in ``difficulty.split``
        difficulty = estimate_difficulty(table, f"{split} (the calibration people themselves)")
    sigma = difficulty.scale(table)
    scale = {k: conformal_quantile((table[k] - table[f"true_{k}"]) / sigma[k], coverage) for k in KEYS}
    differences = half_differences(frame, kb)
    return Intervals(coverage, len(frame), trait, sales, len(table), split,
                     scale if all(math.isfinite(v) for v in scale.values()) else None, difficulty,
                     conformal_quantile(differences, coverage), len(differences), split_half_reliability(frame, kb))


def people_needed(coverage: float) -> int:
    """The fewest calibration people that give a finite person-level interval at ``coverage``."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie in (0, 1), got {coverage}")
    n = 1
    while math.ceil((n + 1) * coverage) > n:  # the rank conformal_quantile takes must exist among n residuals
        n += 1
    return n


def with_intervals(rated: pd.DataFrame, kb: dict, half_widths: Mapping[str, float | np.ndarray]) -> pd.DataFrame:
    """``rated`` (traits, ``score_<trait>``, ``sales_score``) with ``<trait>_low/_high``,
    ``score_<trait>_low/_high`` and ``sales_score_low/_high``; ``half_widths`` per key, one for all rows
    (``Intervals.segment_half_widths``) or one per row."""
    out = rated.copy()
    for t in TRAITS:
        q = np.asarray(half_widths[t], float)
        low, high = (out[t] - q).clip(0, 1), (out[t] + q).clip(0, 1)
        out[f"{t}_low"], out[f"{t}_high"] = low.round(6), high.round(6)
        entry = kb["traits"][t]
        a = trait_score(low.to_numpy(), entry["thresholds"], entry["direction"])
        b = trait_score(high.to_numpy(), entry["thresholds"], entry["direction"])
        out[f"score_{t}_low"], out[f"score_{t}_high"] = np.minimum(a, b).astype(int), np.maximum(a, b).astype(int)
    q = np.asarray(half_widths["sales_score"], float)
    out["sales_score_low"] = (out["sales_score"] - q).clip(1, 10).round(2)
    out["sales_score_high"] = (out["sales_score"] + q).clip(1, 10).round(2)
    return out


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval of ``k`` successes in ``n``."""
    from scipy.stats import beta

    if n == 0:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return (round(low, 4), round(high, 4))


def interval_coverage(rated: pd.DataFrame, kb: dict) -> dict:
    """Share of rows whose true trait (``true_<trait>``) and true sales score lie in their intervals, with its
    exact 95% (Clopper-Pearson) interval over the ``n`` rows, and the mean widths; ``all_five_traits``: the
    share whose five trait intervals all hold at once."""
    true = rated[[f"true_{t}" for t in TRAITS]].to_numpy(float)
    n = int(len(rated))
    report: dict = {"n": n}

    def entry(inside: np.ndarray, width: pd.Series | None = None) -> dict:
        k = int(np.sum(inside))
        out = {"coverage": round(k / n, 4) if n else float("nan"), "coverage_ci95": list(clopper_pearson(k, n))}
        return out if width is None else {**out, "mean_width": round(float(width.mean()), 4)}

    every = np.ones(n, bool)
    for j, t in enumerate(TRAITS):
        inside = ((true[:, j] >= rated[f"{t}_low"] - 1e-9) & (true[:, j] <= rated[f"{t}_high"] + 1e-9)).to_numpy()
        every &= inside
        report[t] = entry(inside, rated[f"{t}_high"] - rated[f"{t}_low"])
    # the trait intervals are per trait: all five hold at once less often than each does
    report["all_five_traits"] = entry(every)
    s_true = sales_scores(true, kb)
    inside = ((s_true >= rated["sales_score_low"] - 1e-9) & (s_true <= rated["sales_score_high"] + 1e-9)).to_numpy()
    report["sales_score"] = entry(inside, rated["sales_score_high"] - rated["sales_score_low"])
    return report
