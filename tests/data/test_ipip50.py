from pathlib import Path

import pandas as pd
import pytest

from sales_ability.data.ipip50 import ITEM_COLUMNS, load_key, score_answers
from sales_ability.errors import IPIPError
from sales_ability.traits import TRAITS
from tests.conftest import run_cli


def _sheet(fn) -> dict[str, int]:
    return {item.column: fn(item) for item in load_key()}


def test_key_has_ten_items_per_factor() -> None:
    key = load_key()
    assert len(key) == 50
    for factor in ("E", "A", "C", "ES", "O"):
        assert sum(i.factor == factor for i in key) == 10


def test_all_neutral_answers_score_one_half() -> None:
    # every item 3: raw 30 per factor, (30 - 10) / 40 = 0.5; neuroticism = 1 - 0.5
    assert score_answers(_sheet(lambda i: 3)) == {t: 0.5 for t in TRAITS}


def test_maximal_keyed_answers() -> None:
    # agreeing with every plus item and disagreeing with every minus item: raw 50 everywhere
    scores = score_answers(_sheet(lambda i: 5 if i.key == "+" else 1))
    assert scores == {"openness": 1.0, "conscientiousness": 1.0, "extraversion": 1.0, "agreeableness": 1.0, "neuroticism": 0.0}


def test_hand_computed_sheet() -> None:
    # q1 (E+) = 5, q6 (E-) = 5, every other item 3.
    # E raw: 5 + (6 - 5) + 8 * 3 = 30 -> 0.5. Items 4 (ES-) = 1: ES raw 5 + 9 * 3 = 32 -> 0.55 -> N = 0.45.
    answers = _sheet(lambda i: 3)
    answers.update({"q1": 5, "q6": 5, "q4": 1})
    scores = score_answers(answers)
    assert scores["extraversion"] == pytest.approx(0.5)
    assert scores["neuroticism"] == pytest.approx(0.45)
    # q3 (C+) = 1: C raw 1 + 27 = 28 -> 0.45
    answers["q3"] = 1
    assert score_answers(answers)["conscientiousness"] == pytest.approx(0.45)


@pytest.mark.parametrize("value", [0, 6, "x", None, 2.5])
def test_bad_answer_names_participant_and_item(value) -> None:
    answers = _sheet(lambda i: 3)
    answers["q17"] = value
    with pytest.raises(IPIPError, match=r"participant p7: q17"):
        score_answers(answers, participant="p7")


def test_cli_scores_and_refuses_bad_sheets(tmp_path: Path) -> None:
    good = pd.DataFrame([{"participant_id": "a", **{c: 3 for c in ITEM_COLUMNS}},
                         {"participant_id": "b", **{c: 5 for c in ITEM_COLUMNS}}])
    good.to_csv(tmp_path / "answers.csv", index=False)
    run = run_cli("ipip50", "score", str(tmp_path / "answers.csv"), "--out", str(tmp_path / "s.csv"))
    assert run.returncode == 0, run.stderr
    scores = pd.read_csv(tmp_path / "s.csv")
    assert list(scores.columns) == ["participant_id", *TRAITS]
    assert scores.loc[0, "openness"] == 0.5

    bad = good.copy()
    bad.loc[1, "q17"] = 9
    bad.to_csv(tmp_path / "bad.csv", index=False)
    run = run_cli("ipip50", "score", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "bad_out.csv"))
    assert run.returncode != 0
    assert "participant b" in run.stderr and "q17" in run.stderr
    assert not (tmp_path / "bad_out.csv").exists()
