"""Hires' outcomes into the results database: ``sales-ability outcomes import FILE.csv``.

One row per hired person (and period): ``applicant_id`` (as the results database holds it), ``hire_date``
(ISO 8601), optionally ``requisition`` and ``period`` (what the figures cover; default ``all``), and one or
more outcome columns (quota attainment, revenue, a supervisor's rating, tenure in months...), each a number
or empty. Every bad row is named with its reason and nothing is imported (one transaction); a row that
repeats a person, outcome and period already held replaces nothing and is counted. Outcomes of people the
database never scored are imported and counted (a study can only use the scored ones), never dropped
silently. ``applicants delete`` erases them with the applicant.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from sales_ability.errors import SalesAbilityError

ID_COLUMNS: tuple[str, ...] = ("applicant_id", "requisition", "hire_date", "period")
DEFAULT_PERIOD = "all"


class OutcomeImportError(SalesAbilityError):
    """The file cannot be imported as it is; nothing was imported. ``problems`` names each bad row."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        super().__init__(f"{path}: {len(problems)} problem(s), nothing imported:\n{shown}")


@dataclass
class OutcomeImport:
    """What an import did."""

    import_id: str
    people: int
    figures: int  # (person, outcome, period) values imported
    already_held: int
    never_scored: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)


def read_outcomes(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The long table (``applicant_id, requisition, hire_date, outcome, value, period``) of an outcomes CSV and
    its outcome names; raises ``OutcomeImportError`` naming every bad row (rows counted from 2, the header
    being 1)."""
    path = Path(path)
    try:
        wide = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise OutcomeImportError(path, [f"not a readable CSV ({type(err).__name__}: {err})"]) from None
    problems = [f"missing column {c!r}" for c in ("applicant_id", "hire_date") if c not in wide]
    outcomes = [c for c in wide.columns if c not in ID_COLUMNS]
    if not outcomes:
        problems.append("no outcome column (any column besides " + ", ".join(ID_COLUMNS) + ")")
    if problems:
        raise OutcomeImportError(path, problems)
    rows = []
    for number, row in enumerate(wide.to_dict("records"), start=2):
        who = row["applicant_id"].strip()
        if not who or len(who) > 200 or any(ch in who for ch in "/\\\0"):
            problems.append(f"row {number}: applicant_id {row['applicant_id']!r} is not an applicant id")
            continue
        try:
            hired = datetime.fromisoformat(row["hire_date"].strip())
        except ValueError:
            problems.append(f"row {number} ({who}): hire_date {row['hire_date']!r} is not a date (YYYY-MM-DD)")
            continue
        period = (row.get("period") or "").strip() or DEFAULT_PERIOD
        for outcome in outcomes:
            text = row[outcome].strip()
            if not text:
                continue  # not measured for this person
            try:
                value = float(text)
            except ValueError:
                problems.append(f"row {number} ({who}): {outcome} {text!r} is not a number")
                continue
            if not math.isfinite(value):
                problems.append(f"row {number} ({who}): {outcome} {text!r} is not a finite number")
                continue
            rows.append({"applicant_id": who, "requisition": (row.get("requisition") or "").strip() or None,
                         "hire_date": hired.replace(tzinfo=hired.tzinfo or UTC), "outcome": outcome,
                         "value": value, "period": period})
    frame = pd.DataFrame(rows, columns=["applicant_id", "requisition", "hire_date", "outcome", "value", "period"])
    twice = frame[frame.duplicated(["applicant_id", "outcome", "period"], keep=False)]
    problems += [f"{who}: {outcome} for period {period!r} given more than once"
                 for who, outcome, period in twice[["applicant_id", "outcome", "period"]].drop_duplicates().itertuples(index=False)]
    if problems:
        raise OutcomeImportError(path, problems)
    return frame, outcomes


def import_outcomes(path: Path, url: str) -> OutcomeImport:
    """Import an outcomes CSV into the results database at ``url`` in one transaction."""
    from sqlalchemy import select

    from sales_ability.results import store as db

    frame, outcomes = read_outcomes(path)
    import_id = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    now = datetime.now(UTC)
    with db.engine(url).begin() as conn:
        held = {(r.applicant_id, r.outcome, r.period) for r in conn.execute(
            select(db.outcomes.c.applicant_id, db.outcomes.c.outcome, db.outcomes.c.period))}
        scored = {r.applicant_id for r in conn.execute(select(db.applicants.c.applicant_id).distinct())}
        new = [r for r in frame.to_dict("records") if (r["applicant_id"], r["outcome"], r["period"]) not in held]
        if new:
            conn.execute(db.outcomes.insert(), [{**r, "import_id": import_id, "imported_at": now} for r in new])
    people = sorted(frame["applicant_id"].unique())
    return OutcomeImport(import_id, len(people), len(new), len(frame) - len(new),
                         [p for p in people if p not in scored], outcomes)
