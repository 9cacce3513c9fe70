"""Reports and erasure over the results database: what a recruiter reads, and forgetting a person.

``render_selection`` renders any selection of applicants (one batch run, since a date, top N, one
applicant) with at most ``limit`` applicants, so no report grows with history. ``erase_applicant`` removes
one applicant from every place the system wrote: the database (applicant rows, segments and their face
strips, rejects, ledger, their self-report for the audit), the inbox (their folder or loose videos), the outbox's shard folders, and the
batch reports that listed them (rendered again without them). ``purge_applicants`` does it for everyone
scored more than N days ago.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import delete, select

from sales_ability.io_utils import write_text_atomic
from sales_ability.serving import results_db as db

REPORTS_DIR = "reports"  # outbox/reports/<batch run id>.html: the applicants that run scored
DEFAULT_REPORT_LIMIT = 200


def run_report_path(outbox: str | Path, run_id: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
    return Path(outbox) / REPORTS_DIR / f"{safe}.html"


def selection(url: str, run_id: str | None = None, since: str | None = None, applicant: str | None = None,
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
    from sales_ability.serving.report import render_report

    people, segs, rejected = selection(url, **query)
    versions = ", ".join(sorted({str(v) for v in people["model_version"]})) or "-"
    strips = dict(zip(segs["clip_id"], segs["strip_png"], strict=True)) if len(segs) else {}
    html = render_report(people, segs, rejected.reindex(columns=["source", "clip_id", "reason"]), kb,
                         f"versions {versions}", strips, coverage)
    write_text_atomic(Path(out_file), html)
    return Path(out_file)


@dataclass
class Erasure:
    """What ``erase_applicant`` removed."""

    applicant_id: str
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    reports_rewritten: list[str] = field(default_factory=list)


def erase_applicant(applicant_id: str, url: str, inbox: str | Path | None = None, outbox: str | Path | None = None,
                    kb: dict | None = None) -> Erasure:
    """Remove ``applicant_id`` from the database, the inbox, the outbox's shards and the batch reports."""
    done = Erasure(applicant_id)
    with db.engine(url).begin() as conn:
        sources = [r.source for r in conn.execute(select(db.videos.c.source).where(db.videos.c.applicant_id == applicant_id))]
        runs = {r.batch_run_id for r in conn.execute(select(db.applicants.c.batch_run_id).where(db.applicants.c.applicant_id == applicant_id))}
        for table in (db.applicants, db.segments, db.rejects, db.videos, db.self_reports):
            done.rows[table.name] = conn.execute(delete(table).where(table.c.applicant_id == applicant_id)).rowcount
        conn.execute(delete(db.file_hashes).where(db.file_hashes.c.path.in_(sources)))
    if inbox is not None:
        inbox = Path(inbox)
        folder = inbox / applicant_id
        targets = [folder] if folder.is_dir() else []
        targets += [Path(s) for s in sources if Path(s).is_file() and inbox in Path(s).parents]
        for target in dict.fromkeys(targets):
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            done.files.append(str(target))
    if outbox is not None:
        import json

        for marker in sorted((Path(outbox) / "shards").glob("*/done.json")):
            shard = json.loads(marker.read_text())
            if any(a["applicant_id"] == applicant_id for a in shard.get("applicants", [])):
                shutil.rmtree(marker.parent)
                done.files.append(str(marker.parent))
        for run_id in sorted(r for r in runs if r):
            report = run_report_path(outbox, run_id)
            if report.is_file() and kb is not None:
                render_selection(url, report, kb, run_id=run_id)
                done.reports_rewritten.append(str(report))
            elif report.is_file():
                report.unlink()
                done.files.append(str(report))
    return done


def purge_applicants(older_than_days: float, url: str, inbox: str | Path | None = None, outbox: str | Path | None = None,
                     kb: dict | None = None) -> list[Erasure]:
    """Erase every applicant scored more than ``older_than_days`` ago."""
    cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
    with db.engine(url).connect() as conn:
        ids = sorted({r.applicant_id for r in conn.execute(select(db.applicants.c.applicant_id).where(db.applicants.c.scored_at < cutoff))})
    return [erase_applicant(a, url, inbox, outbox, kb) for a in ids]


def audit_applicants(url: str, since: str | None = None, until: str | None = None) -> pd.DataFrame:
    """Scored applicants (their latest row each) scored in ``[since, until]``, with their self-reported sex and
    race/ethnicity where they gave one (the bias audit's sample)."""
    from sqlalchemy import and_

    conditions = []
    if since:
        conditions.append(db.applicants.c.scored_at >= since)
    if until:
        conditions.append(db.applicants.c.scored_at <= until + ("T23:59:59" if len(until) == 10 else ""))
    with db.engine(url).connect() as conn:
        people = db.read_table(conn, db.applicants, and_(*conditions) if conditions else None)
        reports = db.read_table(conn, db.self_reports)
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
