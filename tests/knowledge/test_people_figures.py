"""Figures per person with their n and uncertainty, and split-half reliability across answers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sales_ability.knowledge.rate import paper_knowledge_base
from sales_ability.knowledge.reliability import split_half_reliability
from sales_ability.model.evaluation import people_report
from sales_ability.traits import TRAITS


def _segments(people: int, answers: int, person_sd: float, answer_sd: float, seed: int = 0) -> pd.DataFrame:
    """Predicted traits = a person-level value (sd ``person_sd``) + answer-level noise (sd ``answer_sd``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(people):
        level = 0.5 + rng.normal(0, person_sd, len(TRAITS))
        truth = rng.uniform(0.2, 0.8, len(TRAITS))
        for a in range(answers):
            pred = np.clip(level + rng.normal(0, answer_sd, len(TRAITS)), 0, 1)
            rows.append({"participant_id": f"p{p}", "source": f"p{p}/answer_{a + 1}.webm",
                         **dict(zip(TRAITS, pred, strict=True)), **{f"true_{t}": v for t, v in zip(TRAITS, truth, strict=True)}})
    return pd.DataFrame(rows)


def test_people_figures_carry_their_n_and_an_interval_that_holds_the_estimate() -> None:
    segments = _segments(people=12, answers=3, person_sd=0.1, answer_sd=0.02)
    report = people_report(segments, train_means=[0.5] * 5)
    assert report["people"] == 12 and report["segments"] == 36
    accuracy = report["mean_accuracy"]
    assert accuracy["ci95_low"] <= accuracy["value"] <= accuracy["ci95_high"] and accuracy["ci95_high"] > accuracy["ci95_low"]
    for trait in TRAITS:
        r = report[trait]["pearson"]
        assert -1 <= r["ci95_low"] <= r["value"] <= r["ci95_high"] <= 1


def test_perfect_people_give_a_degenerate_interval_at_one() -> None:
    segments = _segments(people=6, answers=2, person_sd=0.0, answer_sd=0.0)
    for t in TRAITS:
        segments[f"true_{t}"] = segments.groupby("participant_id")[t].transform("mean")
    report = people_report(segments, train_means=[0.5] * 5)
    assert report["mean_accuracy"] == {"value": 1.0, "ci95_low": 1.0, "ci95_high": 1.0}


def test_split_half_reliability_tells_consistent_people_from_noise() -> None:
    kb = paper_knowledge_base()
    consistent = split_half_reliability(_segments(people=40, answers=5, person_sd=0.15, answer_sd=0.01), kb)
    noisy = split_half_reliability(_segments(people=40, answers=5, person_sd=0.0, answer_sd=0.15), kb)
    assert consistent["people"] == noisy["people"] == 40
    assert consistent["sales_score"]["value"] > 0.9 and consistent["openness"]["value"] > 0.9
    assert abs(noisy["openness"]["value"]) < 0.5  # answers that share nothing but noise are not reliable
    assert noisy["openness"]["ci95_low"] < 0.5 <= consistent["openness"]["ci95_low"]


def test_people_with_one_answer_are_left_out_of_the_reliability() -> None:
    segments = _segments(people=5, answers=1, person_sd=0.1, answer_sd=0.01)
    report = split_half_reliability(segments, paper_knowledge_base())
    assert report["people"] == 0 and "sales_score" not in report
