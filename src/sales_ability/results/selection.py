"""Reports over the results database: what a recruiter reads, and the audit's sample.

``render_selection`` renders any selection of applicants (one batch run, since a date, top N, one
applicant) with at most ``limit`` applicants, so no report grows with history. Dates are ``datetime.date``
values (the CLI parses ISO dates and refuses anything else); ``until`` is inclusive. Forgetting a person lives
in ``sales_ability.results.erasure``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import delete

from sales_ability.io_utils import write_text_atomic
from sales_ability.results import store as db
from sales_ability.serving.run_report import render_report

REPORTS_DIR = "reports"  # outbox/reports/<batch run id>.html: the applicants that run scored
DEFAULT_REPORT_LIMIT = 200


def run_report_path(outbox: str | Path, run_id: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
    return Path(outbox) / REPORTS_DIR / f"{safe}.html"


def selection(url: str, run_id: str | None = None, since: date | None = None, applicant: str | None = None,
              top: int | None = None, limit: int = DEFAULT_REPORT_LIMIT) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Applicants (best first, at most ``min(top, limit)``), their segments (with strips) and rejects."""
    conditions = []
    if run_id is not None:
        conditions.append(db.applicants.c.batch_run_id == run_id)
    if since is not None:
        conditions.append(db.applicants.c.scored_at >= since)
    if applicant is not None:
        conditions.append(db.applicants.c.applicant_id == applicant)
    from sqlalchemy import and_

    where = and_(*conditions) if conditions else None
    cap = min(top, limit) if top else limit
    with db.engine(url).connect() as conn:
        people = db.read_table(conn, db.applicants, where, [db.applicants.c.sales_score.desc(), db.applicants.c.applicant_id], cap)
        ids = people["applicant_id"].tolist()
        segs = db.read_table(conn, db.segments, db.segments.c.applicant_id.in_(ids)) if ids else db.read_table(conn, db.segments, db.segments.c.id < 0)
        rejected = db.read_table(conn, db.rejects, db.rejects.c.batch_run_id == run_id) if run_id else \
            db.read_table(conn, db.rejects, db.rejects.c.applicant_id.in_(ids))
    return people, segs, rejected


def render_selection(url: str, out_file: str | Path, kb: dict, coverage: float | None = None, **query) -> Path:
    """Write the HTML report of a selection (see ``selection``); returns its path."""
    people, segs, rejected = selection(url, **query)
    versions = ", ".join(sorted({str(v) for v in people["model_version"]})) or "-"
    strips = dict(zip(segs["clip_id"], segs["strip_png"], strict=True)) if len(segs) else {}
    html = render_report(people, segs, rejected.reindex(columns=["source", "clip_id", "reason"]), kb,
                         f"versions {versions}", strips, coverage)
    write_text_atomic(Path(out_file), html)
    return Path(out_file)


class MixedVersions(ValueError):
    """An audit sample scored by more than one model version (its median would mix two scales)."""


def audit_applicants(url: str, since: date | None = None, until: date | None = None,
                     model_version: str | None = None) -> pd.DataFrame:
    """Scored applicants (their latest row each) scored in ``[since, until]`` by one model version, with their
    self-reported sex and race/ethnicity where they gave one (the bias audit's sample).

    Raises:
        MixedVersions: the selection holds several model versions and ``model_version`` chooses none.
    """
    from sqlalchemy import and_

    conditions = []
    # scored_at is a UTC time (revision 0005): the dates are bounds at midnight UTC, compared as times
    if since:
        conditions.append(db.applicants.c.scored_at >= since)
    if until:
        conditions.append(db.applicants.c.scored_at < until + timedelta(days=1))
    with db.engine(url).connect() as conn:
        people = db.read_table(conn, db.applicants, and_(*conditions) if conditions else None)
        reports = db.read_table(conn, db.self_reports)
    if model_version is not None:
        people = people[people["model_version"].astype(str) == str(model_version)]
    versions = sorted(people["model_version"].astype(str).unique())
    if len(versions) > 1:
        raise MixedVersions(f"the selection holds applicants scored by model versions {', '.join(versions)}: an audit "
                            "compares applicants of one version (pass --model-version)")
    people = people.sort_values("scored_at").drop_duplicates("applicant_id", keep="last")
    return people.merge(reports[["applicant_id", "sex", "race_ethnicity"]], on="applicant_id", how="left")


def record_self_report(url: str, applicant_id: str, report: dict) -> None:
    """Keep one applicant's self-report (replacing an earlier one) in the ``self_reports`` table."""
    from datetime import UTC, datetime

    with db.engine(url).begin() as conn:
        conn.execute(delete(db.self_reports).where(db.self_reports.c.applicant_id == applicant_id))
        conn.execute(db.self_reports.insert().values(applicant_id=applicant_id, sex=report.get("sex"),
                                                     race_ethnicity=report.get("race_ethnicity"),
                                                     reported_at=datetime.now(UTC).isoformat(timespec="seconds")))
