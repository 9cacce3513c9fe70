"""Split-conformal intervals: calibrated on one sample, they cover a held-out one at the nominal rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sales_ability.knowledge.applicants import rate_applicants
from sales_ability.knowledge.intervals import conformal_quantile, fit_intervals, interval_coverage, with_intervals
from sales_ability.knowledge.rate import paper_knowledge_base, rate
from sales_ability.model.calibration import calibration_set
from sales_ability.traits import TRAITS


def _sample(rng: np.random.Generator, n: int, people: int) -> pd.DataFrame:
    true = rng.uniform(0.2, 0.8, (people, 5))
    person = rng.integers(0, people, n)
    noise = rng.normal(0, 0.06, (n, 5)) * np.array([0.5, 1, 1.5, 1, 2])  # traits differ in how well they are known
    frame = pd.DataFrame((true[person] + noise).clip(0, 1), columns=list(TRAITS))
    for j, t in enumerate(TRAITS):
        frame[f"true_{t}"] = true[person, j]
    frame["participant_id"] = [f"p{p}" for p in person]
    frame["clip_id"] = [f"c{i}" for i in range(n)]
    frame["source"] = frame["clip_id"]
    return frame


def test_conformal_rank() -> None:
    assert conformal_quantile(np.arange(1, 10), 0.9) == 9  # ceil(10 * 0.9) = 9th of 9
    assert math.isinf(conformal_quantile(np.arange(1, 9), 0.9))  # too few for 90 %: unbounded, not a guess


def test_held_out_coverage_is_near_nominal_per_trait_and_for_the_sales_score() -> None:
    rng = np.random.default_rng(0)
    kb = paper_knowledge_base()
    calibration_rows = _sample(rng, 400, 400)
    intervals = fit_intervals(calibration_set(calibration_rows), kb, 0.9)
    assert intervals.trait["openness"] < intervals.trait["neuroticism"]  # wider where the model knows less
    held_out = _sample(np.random.default_rng(1), 2000, 2000)
    report = interval_coverage(with_intervals(rate(held_out, kb)[0], kb, intervals), kb)
    for t in TRAITS:
        assert report[t]["coverage"] == pytest.approx(0.9, abs=0.03), t
    # the sales score moves in steps of 0.2: ties in its residuals make the guarantee (>= nominal) conservative
    assert 0.87 <= report["sales_score"]["coverage"] <= 0.97
    # five independent 90% intervals hold together about 0.9^5 = 59% of the time: per trait, not jointly
    assert report["all_five_traits"]["coverage"] == pytest.approx(0.9 ** 5, abs=0.05)


def test_applicant_rows_average_segments_and_keep_the_segment_width() -> None:
    rng = np.random.default_rng(2)
    kb = paper_knowledge_base()
    segments = _sample(rng, 60, 10)
    intervals = fit_intervals(calibration_set(segments), kb, 0.8)
    applicants = rate_applicants(segments, kb, intervals)
    assert len(applicants) == segments["participant_id"].nunique()
    first = applicants.iloc[0]
    mine = segments[segments["participant_id"] == first["applicant_id"]]
    assert first["segments"] == len(mine) and first["openness"] == pytest.approx(mine["openness"].mean())
    width = min(1.0, first["openness"] + intervals.trait["openness"]) - max(0.0, first["openness"] - intervals.trait["openness"])
    assert first["openness_high"] - first["openness_low"] == pytest.approx(width, abs=1e-5)  # not narrowed by 1/sqrt(m)
    assert applicants["sales_score"].is_monotonic_decreasing


def test_no_calibration_gives_the_whole_scale() -> None:
    kb = paper_knowledge_base()
    rated = with_intervals(rate(_sample(np.random.default_rng(3), 5, 5), kb)[0], kb, fit_intervals(None, kb, 0.9))
    assert (rated["sales_score_low"] == 1).all() and (rated["sales_score_high"] == 10).all()
    assert (rated["openness_low"] == 0).all() and (rated["openness_high"] == 1).all()
