"""The validity study says yes only to a relation that is there, at about the nominal error rate otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sales_ability.outcomes.study import (
    corrected_for_range,
    fisher_interval,
    people_needed,
    power,
    validation_study,
)
from sales_ability.traits import TRAITS


def _hires(rng: np.random.Generator, n: int, slope: float) -> pd.DataFrame:
    """Hired people: traits, a sales score, and a quota attainment that depends on the score by ``slope``."""
    frame = pd.DataFrame(rng.uniform(0, 1, (n, 5)), columns=list(TRAITS))
    frame["sales_score"] = rng.normal(6, 1.2, n)
    frame["quota"] = 100 + slope * (frame["sales_score"] - 6) + rng.normal(0, 10, n)
    frame["sex"] = rng.choice(["female", "male"], n)
    return frame


def test_the_power_figures_match_the_textbook() -> None:
    assert people_needed(0.2) == pytest.approx(194, abs=2) and people_needed(0.3) == pytest.approx(85, abs=2)
    assert power(0.2, 194) == pytest.approx(0.8, abs=0.01)
    low, high = fisher_interval(0.3, 100)
    assert low == pytest.approx(0.111, abs=0.002) and high == pytest.approx(0.468, abs=0.002)
    assert corrected_for_range(0.2, 1.0) == pytest.approx(0.2) and corrected_for_range(0.2, 1.5) > 0.2


def test_a_planted_relation_is_found_and_lies_inside_its_interval() -> None:
    rng = np.random.default_rng(0)
    hires = _hires(rng, 400, 3.0)  # true r = 3 * 1.2 / sqrt(3.6^2 + 10^2) = 0.339
    report = validation_study(hires, ["quota"], applicant_sd=1.8)
    main = next(c for c in report["correlations"] if c["predictor"] == "sales_score")
    assert main["ci95_low"] <= 0.339 <= main["ci95_high"] and main["n"] == 400
    assert report["valid_for"] == ["quota"] and report["verdicts"]["quota"].startswith("Evidence that")
    assert main["r_corrected_for_range"] > main["r"]  # hires' scores spread less than applicants'
    assert set(report["differential_validity"]["quota"]["sex"]["categories"]) == {"female", "male"}


def test_pure_noise_is_called_valid_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(1)
    said_yes = [bool(validation_study(_hires(rng, 120, 0.0), ["quota"])["valid_for"]) for _ in range(200)]
    assert 0.01 <= np.mean(said_yes) <= 0.06  # two-sided 5%, and only positive relations count as valid
    quiet = validation_study(_hires(np.random.default_rng(5), 120, 0.0), ["quota"])  # a draw where nothing is found
    assert quiet["valid_for"] == [] and "This is not evidence that it does not" in quiet["verdicts"]["quota"]


def test_several_outcomes_are_not_a_second_chance() -> None:
    """Holm across outcomes: with five noise outcomes the study says yes about as rarely as with one."""
    rng = np.random.default_rng(2)
    yes = []
    for _ in range(100):
        hires = _hires(rng, 100, 0.0)
        for k in range(4):
            hires[f"noise{k}"] = rng.normal(0, 1, len(hires))
        yes.append(bool(validation_study(hires, ["quota", "noise0", "noise1", "noise2", "noise3"])["valid_for"]))
    assert np.mean(yes) <= 0.06


def test_too_few_people_get_the_power_message_not_a_verdict() -> None:
    report = validation_study(_hires(np.random.default_rng(3), 8, 30.0), ["quota"])
    assert report["verdicts"]["quota"].startswith("No verdict: 8 people") and "194 hires" in report["verdicts"]["quota"]
    assert report["valid_for"] == []
