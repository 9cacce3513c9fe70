"""Role profiles: a knowledge base per role, fitted from outcomes, offered only where held-out people show it
predicts better than the paper's rule without worse adverse impact.

The paper's sales rule (E, C, O up; A, N down) stays the default. A fitted profile learns, per trait, a weight
and a shape: each trait enters as ``x`` and ``x^2`` (standardised) in a ridge regression of the outcome, so a
trait can rise, fall, peak at a target level (the inverted U of extraversion in call-centre sales) or not
matter. Its shape is read off the fitted curve over the traits' range: ``up``, ``down``, ``peak at c``, or ``flat`` when
a profile without the trait fits as well in cross-validation.

Person-level nested cross-validation: the outer folds hold people out; on each training part an inner
cross-validation chooses the ridge penalty, the profile is fitted, and the held-out people are scored.
Nothing fitted ever sees a held-out person's outcome (``tests/outcomes/test_profiles.py`` changes them and
checks that their predictions do not move). On the held-out predictions the profile's correlation with the
outcome is compared with the default sales score's by Williams' test for two correlations that share a
variable (one-sided: the profile must be better), and the bias audit of the profile's held-out scores is
compared with the default's. The profile is offered only when both say so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sales_ability.knowledge.audit import bias_audit
from sales_ability.knowledge.rate import save_knowledge_base
from sales_ability.traits import TRAITS

OUTER_FOLDS = 5
ALPHAS = (0.1, 1.0, 10.0, 100.0)
MIN_PEOPLE = 40  # fewer hires than this: no profile is fitted at all
GRID = np.linspace(0.0, 1.0, 101)  # where a trait's fitted curve is read for its shape


def _features(traits: np.ndarray) -> np.ndarray:
    """``x`` and ``x^2`` of each trait (centred at 0.5, so the two are not collinear)."""
    centred = traits - 0.5
    return np.hstack([centred, centred ** 2])


def _fit(traits: np.ndarray, y: np.ndarray, seed: int):
    """A ridge regression of ``y`` on the trait features, its penalty chosen by inner cross-validation."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    inner = KFold(n_splits=min(5, max(2, len(y) // 10)), shuffle=True, random_state=seed)
    return make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS, cv=inner)).fit(_features(traits), y)


def held_out_predictions(traits: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = OUTER_FOLDS) -> np.ndarray:
    """Each person's profile prediction from a profile fitted without them (the outer folds of the nested
    cross-validation; the inner one chooses the penalty inside ``_fit``)."""
    from sklearn.model_selection import KFold

    out = np.full(len(y), np.nan)
    for train, test in KFold(n_splits=folds, shuffle=True, random_state=seed).split(traits):
        out[test] = _fit(traits[train], y[train], seed).predict(_features(traits[test]))
    return out


def shapes(traits: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, dict]:
    """Each trait's shape in the profile fitted on everyone: its curve over [0, 1] with the other traits at
    their means. A trait is ``flat`` when a profile without it fits as well in cross-validation (it adds
    nothing the data can tell from noise)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = _fit(traits, y, seed)
    features = _features(traits)
    folds = list(KFold(n_splits=OUTER_FOLDS, shuffle=True, random_state=seed).split(traits))

    def fit_score(columns: list[int]) -> float:
        """Minus the cross-validated squared error of a profile of these traits only."""
        keep = [*columns, *(c + len(TRAITS) for c in columns)]
        errors = []
        for train, test in folds:
            fitted = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(features[train][:, keep], y[train])
            errors.append(np.mean((fitted.predict(features[test][:, keep]) - y[test]) ** 2))
        return -float(np.mean(errors))

    everything = fit_score(list(range(len(TRAITS))))
    out = {}
    base = traits.mean(axis=0)
    for j, trait in enumerate(TRAITS):
        grid = np.tile(base, (len(GRID), 1))
        grid[:, j] = GRID
        curve = model.predict(_features(grid))
        top = float(GRID[int(np.argmax(curve))])
        without = fit_score([k for k in range(len(TRAITS)) if k != j])
        if without >= everything:
            shape = "flat"
        elif 0.1 <= top <= 0.9 and curve[0] < curve.max() and curve[-1] < curve.max():
            shape = f"peak at {top:.2f}"
        else:
            shape = "up" if curve[-1] > curve[0] else "down"
        out[trait] = {"shape": shape, "effect": round(float(curve.max() - curve.min()), 4),  # outcome units
                      "cv_mse_without": round(-without, 4), "cv_mse_with": round(-everything, 4)}
    return out


def williams_test(r_new: float, r_default: float, r_between: float, n: int) -> float:
    """One-sided p that the first correlation with a shared variable exceeds the second (Williams' t, as
    Steiger 1980 recommends for dependent correlations)."""
    if n < 4:
        return math.nan
    det = 1 - r_new ** 2 - r_default ** 2 - r_between ** 2 + 2 * r_new * r_default * r_between
    mean = (r_new + r_default) / 2
    t = (r_new - r_default) * math.sqrt((n - 1) * (1 + r_between) / (
        2 * (n - 1) / (n - 3) * det + mean ** 2 * (1 - r_between) ** 3))
    return float(stats.t.sf(t, n - 3))


@dataclass
class ProfileStudy:
    """The evidence for one outcome's profile."""

    outcome: str
    people: int
    held_out_r: float | None = None
    default_r: float | None = None
    p_better: float | None = None
    profile_impact_ratio: float | None = None
    default_impact_ratio: float | None = None
    offered: bool = False
    reason: str = ""
    shapes: dict = field(default_factory=dict)


def _lowest_impact_ratio(frame: pd.DataFrame, scores: np.ndarray) -> float | None:
    table = bias_audit(frame.assign(sales_score=scores))
    judged = table[~table["small"].astype(bool) & ~table["unknown"].astype(bool)].dropna(subset=["impact_ratio"])
    return None if judged.empty else float(judged["impact_ratio"].min())


def study_profile(frame: pd.DataFrame, outcome: str, alpha: float = 0.05, seed: int = 0) -> ProfileStudy:
    """Fit and test a profile of ``outcome`` on ``frame`` (one row per hired person: the traits, ``sales_score``,
    the outcome, optionally ``sex`` and ``race_ethnicity``)."""
    data = frame.dropna(subset=[*TRAITS, "sales_score", outcome]).reset_index(drop=True)
    study = ProfileStudy(outcome, int(len(data)))
    if len(data) < MIN_PEOPLE:
        study.reason = f"not fitted: {len(data)} people, a profile needs at least {MIN_PEOPLE} hires with this outcome"
        return study
    traits, y = data[list(TRAITS)].to_numpy(float), data[outcome].to_numpy(float)
    predicted = held_out_predictions(traits, y, seed)
    default = data["sales_score"].to_numpy(float)
    study.held_out_r = round(float(np.corrcoef(predicted, y)[0, 1]), 4)
    study.default_r = round(float(np.corrcoef(default, y)[0, 1]), 4)
    between = float(np.corrcoef(predicted, default)[0, 1])
    study.p_better = williams_test(study.held_out_r, study.default_r, between, len(y))
    study.shapes = shapes(traits, y, seed)  # the profile offered: fitted on everyone
    study.profile_impact_ratio = _lowest_impact_ratio(data, predicted)
    study.default_impact_ratio = _lowest_impact_ratio(data, default)
    better = study.p_better is not None and study.p_better < alpha
    fairer = (study.profile_impact_ratio is None or study.default_impact_ratio is None
              or study.profile_impact_ratio >= study.default_impact_ratio)
    study.offered = bool(better and fairer)
    ratios = ("" if study.profile_impact_ratio is None or study.default_impact_ratio is None else
              f" ({study.profile_impact_ratio:.2f} against the rule's {study.default_impact_ratio:.2f})")
    if study.offered:
        study.reason = (f"offered: on held-out people r = {study.held_out_r:+.2f} against the paper's rule's "
                        f"{study.default_r:+.2f} (Williams' test, one-sided p = {study.p_better:.3g}), lowest impact ratio "
                        f"not worse{ratios or ' (no categories large enough to compare)'}")
    elif not better:
        study.reason = (f"not offered: on held-out people r = {study.held_out_r:+.2f} against the paper's rule's "
                        f"{study.default_r:+.2f}; not significantly better (one-sided p = {study.p_better:.3g})")
    else:
        study.reason = (f"not offered: better on held-out people (p = {study.p_better:.3g}) but its lowest impact ratio "
                        f"{study.profile_impact_ratio:.2f} is worse than the paper's rule's {study.default_impact_ratio:.2f}")
    return study


def profile_report(frame: pd.DataFrame, outcomes: list[str], alpha: float = 0.05, base: dict | None = None,
                   out_dir: Path | None = None, label: str = "") -> dict[str, dict]:
    """``study_profile`` of each outcome, as JSON-ready dicts; with ``base`` and ``out_dir``, each offered
    profile is also written as ``<out_dir>/profile_<outcome>.json`` (a knowledge base; ``file`` names it)."""
    report = {}
    for outcome in outcomes:
        study = study_profile(frame, outcome, alpha)
        report[outcome] = asdict(study)
        if study.offered and base is not None and out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            path = Path(out_dir) / f"profile_{outcome}.json"
            save_knowledge_base(profile_knowledge_base(base, frame, study, f"{outcome} ({label})" if label else outcome), path)
            report[outcome]["file"] = str(path)
    return report


def profile_knowledge_base(base: dict, frame: pd.DataFrame, study: ProfileStudy, name: str, seed: int = 0) -> dict:
    """An offered profile as a knowledge base a scorer takes (``sales-ability score --thresholds``): ``base``'s
    per-trait thresholds (still shown per trait) and the profile, whose score 1..10 is the decile of its
    predicted outcome among the predictions for the hires it was fitted on (``knowledge.rate.profile_scores``).
    It carries the evidence it was offered on."""
    if not study.offered:
        raise ValueError(f"the {study.outcome} profile was not offered ({study.reason}): it must not be served")
    data = frame.dropna(subset=[*TRAITS, study.outcome])
    traits = data[list(TRAITS)].to_numpy(float)
    model = _fit(traits, data[study.outcome].to_numpy(float), seed)
    scaler, ridge = model[0], model[-1]
    deciles = np.quantile(model.predict(_features(traits)), np.linspace(0.1, 0.9, 9))
    return {**{k: v for k, v in base.items() if k != "profile"}, "knowledge_base": "profile",
            "profile": {"name": name, "outcome": study.outcome, "people": study.people,
                        "mean": scaler.mean_.round(8).tolist(), "scale": scaler.scale_.round(8).tolist(),
                        "coef": ridge.coef_.round(8).tolist(), "intercept": round(float(ridge.intercept_), 8),
                        "deciles": deciles.round(8).tolist(), "shapes": study.shapes,
                        "evidence": study.reason}}
