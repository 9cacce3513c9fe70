"""Outcomes imported into the results database, studied against the scores people had, and erased with them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from sales_ability.outcomes.importer import OutcomeImportError, import_outcomes
from sales_ability.outcomes.validate import NoOutcomes, run_validation
from sales_ability.results import store as db
from sales_ability.results.erasure import erase_applicant
from sales_ability.traits import TRAITS
from tests.conftest import run_cli


def _scored(url: str, people: int, rng: np.random.Generator) -> pd.DataFrame:
    """``people`` applicants scored by model version 1 (and the first ten again by version 2)."""
    rows = pd.DataFrame({"applicant_id": [f"hire{i:03d}" for i in range(people)],
                         "sales_score": rng.normal(6, 1.2, people).round(2),
                         **{t: rng.uniform(0, 1, people) for t in TRAITS}})
    with db.engine(url).begin() as conn:
        conn.execute(db.applicants.insert(), [{**r, "model_version": "1"} for r in rows.to_dict("records")])
        conn.execute(db.applicants.insert(), [{**r, "model_version": "2", "sales_score": 5.0} for r in rows.head(10).to_dict("records")])
        conn.execute(db.self_reports.insert(), [{"applicant_id": a, "sex": s} for a, s in
                                                zip(rows["applicant_id"], rng.choice(["female", "male"], people), strict=True)])
    return rows


def _count(url: str) -> int:
    with db.engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.outcomes)).scalar())


def test_a_bad_file_names_every_bad_row_and_imports_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _scored(url, 5, np.random.default_rng(0))
    (tmp_path / "bad.csv").write_text("applicant_id,hire_date,quota\nhire000,2026-01-05,101\nhire001,05/01/2026,99\n"
                                      "hire002,2026-01-07,=cmd()\n../x,2026-01-07,3\nhire003,2026-01-07,\n")
    with pytest.raises(OutcomeImportError) as caught:
        import_outcomes(tmp_path / "bad.csv", url)
    assert [p.split(":")[0] for p in caught.value.problems] == ["row 3 (hire001)", "row 4 (hire002)", "row 5"]
    assert _count(url) == 0  # one transaction: the good row is not imported either
    run = run_cli("outcomes", "import", tmp_path / "bad.csv", "--database-url", url)
    assert run.returncode == 2 and "row 4 (hire002): quota '=cmd()' is not a number" in run.stderr, run.stderr


def test_imported_outcomes_are_studied_against_one_version_and_erased_with_the_applicant(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    rng = np.random.default_rng(1)
    hires = _scored(url, 80, rng)
    quota = 100 + 8 * (hires["sales_score"] - 6) + rng.normal(0, 10, len(hires))  # planted: r about 0.7
    frame = pd.DataFrame({"applicant_id": [*hires["applicant_id"], "stranger1", "stranger2"], "requisition": "AE-2027",
                          "hire_date": "2026-02-01", "period": "2026", "quota": [*quota.round(1), 90, 95],
                          "noise": rng.normal(0, 1, len(hires) + 2).round(3)})
    frame.to_csv(tmp_path / "outcomes.csv", index=False)
    done = import_outcomes(tmp_path / "outcomes.csv", url)
    assert (done.people, done.figures, done.never_scored) == (82, 164, ["stranger1", "stranger2"])
    assert import_outcomes(tmp_path / "outcomes.csv", url).already_held == 164  # a second import adds nothing

    report = run_validation(url, tmp_path / "study", log_to_mlflow=False, correct_range=True)
    assert report["chosen"]["model_version"] == "1" and report["people"] == 80  # never version 2's scores mixed in
    assert report["chosen"]["people_not_scored_by_this_version"] == 2
    assert report["valid_for"] == ["quota"] and report["verdicts"]["noise"].startswith(("No evidence", "Evidence of the opposite"))
    assert json.loads((tmp_path / "study" / "validity.json").read_text())["people"] == 80
    html = (tmp_path / "study" / "validity.html").read_text()
    assert "Evidence that a higher sales score goes with higher quota" in html and "Holm" in html

    erase_applicant("hire000", url)
    assert _count(url) == 162  # their two figures went with them
    with pytest.raises(NoOutcomes, match="requisition 'other'"):
        run_validation(url, tmp_path / "none", requisition="other", log_to_mlflow=False)
