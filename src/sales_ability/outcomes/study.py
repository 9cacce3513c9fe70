"""Does the score predict sales? The criterion-related validity study of hires' outcomes.

For the sales score and each trait against each outcome (quota attainment, revenue, a supervisor's rating...):
Pearson's r over the hired people who have both, its 95% Fisher interval and two-sided p, the N, the power
the study had to detect a stated effect (``effect``, r = 0.2 by default: what a video-based score can hope
for) and the N it would need for 80% power. Only hired people have outcomes, so the score's range among
them is narrower than among applicants: with the applicants' standard deviation given, the standard
correction for direct range restriction (Thorndike's case II) is shown beside r, labelled as corrected,
never instead of it.

Not capitalising on chance: the sales score is the study's question; its p-values across the outcomes are
Holm-adjusted, and only those decide the verdict. The traits are shown for understanding, each with its
own p, and never make a verdict. Differential validity: r per sex and per race/ethnicity category with
enough people (``MIN_GROUP``), and a Fisher z test of the difference between the two largest categories.

The verdict, in plain words, never calls the score valid without a significant positive relation; with
fewer than ``MIN_PEOPLE`` people it gives the power message instead of a verdict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sales_ability.traits import TRAITS

PREDICTORS: tuple[str, ...] = ("sales_score", *TRAITS)
MIN_PEOPLE = 10  # below this no verdict is given, only how many people it would take
MIN_GROUP = 20  # a category with fewer people gets no correlation of its own
ALPHA = 0.05
POWER = 0.8


def fisher_interval(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Fisher z interval of a correlation ``r`` over ``n`` pairs (NaN for n < 4)."""
    if n < 4 or not math.isfinite(r):
        return (math.nan, math.nan)
    z, half = math.atanh(max(min(r, 0.999999), -0.999999)), stats.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3)
    return (math.tanh(z - half), math.tanh(z + half))


def power(effect: float, n: int, alpha: float = ALPHA) -> float:
    """The power of a two-sided test at ``alpha`` to detect a true correlation ``effect`` with ``n`` people
    (Fisher z approximation)."""
    if n < 4:
        return 0.0
    shift = abs(math.atanh(effect)) * math.sqrt(n - 3)
    critical = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))


def people_needed(effect: float, target: float = POWER, alpha: float = ALPHA) -> int:
    """The people a two-sided test at ``alpha`` needs to detect ``effect`` with power ``target``."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target)
    return int(math.ceil((z / math.atanh(abs(effect))) ** 2 + 3))


def corrected_for_range(r: float, ratio: float) -> float:
    """Thorndike's case II: ``r`` among the selected, corrected to the applicants, with ``ratio`` = the
    applicants' standard deviation of the predictor over the selected people's (>= 1 under selection)."""
    if not math.isfinite(r) or not math.isfinite(ratio) or ratio <= 0:
        return math.nan
    return r * ratio / math.sqrt(1 + r * r * (ratio * ratio - 1))


@dataclass(frozen=True)
class Correlation:
    """One predictor against one outcome."""

    predictor: str
    outcome: str
    n: int
    r: float | None
    ci95_low: float | None
    ci95_high: float | None
    p: float | None
    power: float  # to detect the study's stated effect with this N
    people_needed: int  # for 80% power at the stated effect
    r_corrected_for_range: float | None = None  # labelled: the applicants' SD was given
    p_holm: float | None = None  # the sales score's, adjusted across outcomes


def correlate(x: np.ndarray, y: np.ndarray, predictor: str, outcome: str, effect: float,
              range_ratio: float | None = None) -> Correlation:
    """r, its Fisher interval and p (two-sided) of the pairs where both are known."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 4 or np.std(x) == 0 or np.std(y) == 0:
        return Correlation(predictor, outcome, n, None, None, None, None, power(effect, n), people_needed(effect))
    result = stats.pearsonr(x, y)
    r = float(result.statistic)
    low, high = fisher_interval(r, n)
    corrected = corrected_for_range(r, range_ratio) if range_ratio else None
    return Correlation(predictor, outcome, n, round(r, 4), round(low, 4), round(high, 4), float(result.pvalue),
                       round(power(effect, n), 4), people_needed(effect),
                       None if corrected is None else round(corrected, 4))


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (None stays None)."""
    known = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank) * p))
        out[i] = running
    return out


def verdict(c: Correlation, effect: float, alpha: float = ALPHA) -> str:
    """Plain words for the sales score against one outcome."""
    if c.n < MIN_PEOPLE or c.r is None:
        return (f"No verdict: {c.n} people with both a score and a {c.outcome} figure. To detect r = {effect:g} with 80% "
                f"power a study needs about {c.people_needed} hires; wait until that many have a full period of outcomes.")
    figures = f"r = {c.r:+.2f} (95% CI {c.ci95_low:+.2f} to {c.ci95_high:+.2f}), Holm-adjusted p = {c.p_holm:.3g}, N = {c.n}"
    if c.p_holm is not None and c.p_holm < alpha and c.r > 0:
        return f"Evidence that a higher sales score goes with higher {c.outcome}: {figures}."
    if c.p_holm is not None and c.p_holm < alpha:
        return (f"Evidence of the opposite: a higher sales score goes with LOWER {c.outcome} ({figures}). Do not use "
                "the score for this role.")
    return (f"No evidence that the sales score predicts {c.outcome} ({figures}). This is not evidence that it does not: "
            f"the study had {c.power:.0%} power to detect r = {effect:g}; about {c.people_needed} hires would give 80%.")


def _differential(frame: pd.DataFrame, outcome: str, effect: float) -> dict:
    """r of the sales score per category (with at least ``MIN_GROUP`` people) of sex and of race/ethnicity, and
    the Fisher z test between the two largest categories of each."""
    out: dict = {}
    for dimension in ("sex", "race_ethnicity"):
        if dimension not in frame:
            continue
        groups = frame.dropna(subset=[dimension, outcome, "sales_score"]).groupby(dimension)
        sizes = groups.size().sort_values(ascending=False)
        rows = {}
        for category, size in sizes.items():
            if size >= MIN_GROUP and category not in ("unknown", "prefer_not_to_say"):
                part = groups.get_group(category)
                rows[str(category)] = asdict(correlate(part["sales_score"].to_numpy(float), part[outcome].to_numpy(float),
                                                       "sales_score", outcome, effect))
        unsaid = ("unknown", "prefer_not_to_say")
        entry: dict = {"categories": rows, "too_small": {str(c): int(s) for c, s in sizes.items()
                                                         if str(c) not in rows and str(c) not in unsaid},
                       "not_said": int(sum(int(s) for c, s in sizes.items() if str(c) in unsaid))}
        usable = [c for c in rows if rows[c]["r"] is not None]
        if len(usable) >= 2:
            a, b = rows[usable[0]], rows[usable[1]]
            z = (math.atanh(a["r"]) - math.atanh(b["r"])) / math.sqrt(1 / (a["n"] - 3) + 1 / (b["n"] - 3))
            entry["difference"] = {"between": usable[:2], "z": round(z, 4), "p": float(2 * stats.norm.sf(abs(z)))}
        out[dimension] = entry
    return out


def validation_study(frame: pd.DataFrame, outcomes: list[str], effect: float = 0.2,
                     applicant_sd: float | None = None, alpha: float = ALPHA) -> dict:
    """The study of ``frame`` (one row per hired person: ``sales_score``, the traits, the ``outcomes``
    columns, optionally ``sex`` and ``race_ethnicity``).

    Args:
        effect: the correlation the power figures are stated for.
        applicant_sd: the sales score's standard deviation among all applicants, for the range-restriction
            correction (None: not corrected).
    """
    hired_sd = float(frame["sales_score"].std(ddof=1)) if len(frame) > 1 else math.nan
    ratio = applicant_sd / hired_sd if applicant_sd and hired_sd and math.isfinite(hired_sd) else None
    table = [correlate(frame[p].to_numpy(float), frame[o].to_numpy(float), p, o, effect, ratio if p == "sales_score" else None)
             for o in outcomes for p in PREDICTORS if p in frame]
    main = [c for c in table if c.predictor == "sales_score"]
    adjusted = dict(zip([c.outcome for c in main], holm([c.p for c in main]), strict=True))
    table = [c if c.predictor != "sales_score" else Correlation(**{**asdict(c), "p_holm": adjusted[c.outcome]}) for c in table]
    report = {
        "people": int(len(frame)), "effect": effect, "alpha": alpha,
        "range_restriction": {"applicant_sd": applicant_sd, "hired_sd": None if not math.isfinite(hired_sd) else round(hired_sd, 4),
                              "ratio": None if ratio is None else round(ratio, 4)},
        "correlations": [asdict(c) for c in table],
        "verdicts": {c.outcome: verdict(c, effect, alpha) for c in table if c.predictor == "sales_score"},
        "valid_for": [c.outcome for c in table if c.predictor == "sales_score" and c.n >= MIN_PEOPLE
                      and c.p_holm is not None and c.p_holm < alpha and c.r is not None and c.r > 0],
        "differential_validity": {o: _differential(frame, o, effect) for o in outcomes},
        "caveat": ("Correlations among hired people only; outcomes depend on territory, manager and period as well as "
                   "on the person. A significant r says the score and the outcome move together in this sample, not "
                   "that the score causes sales."),
    }
    return report
