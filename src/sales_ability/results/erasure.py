"""Forgetting an applicant: erasure that cannot overreach, fall short, or be undone by a shard in flight.

- **Cannot overreach.** The id is checked first (not empty, no path separator, not ``.``/``..``). Files are
  removed only where the ledger recorded them for this applicant, and only strictly inside an inbox. The one
  exception is an applicant who was never scored: their own folder ``<inbox>/<id>``, a real folder directly
  inside the inbox, whose name no ledger row gives to someone else. An id found nowhere removes nothing and
  raises ``UnknownApplicant``.
- **Cannot fall short.** Besides the inbox and outbox it is given, it reaches every inbox and outbox that a
  batch run which scored the applicant recorded (``batch_runs.inbox/outbox``), and those of the deployment's
  settings (``SALES_ABILITY_INBOX``/``SALES_ABILITY_OUTBOX``). Where no inbox or outbox is known at all, it
  warns by name. Shards are scrubbed row by row: neighbours in the same shard keep their results.
- **The review keeps no one.** The applicant's application and queued hand-offs go; their decisions and review
  events lose the id and the note/detail and keep the rest (no personal data), and the erasure itself is logged.
- **Cannot be undone.** It writes a tombstone (an HMAC of the id under the database's own salt, no personal
  data). Erasure and merge both update the one ``erasure_state`` row first, which serialises them. A merge then
  skips every applicant tombstoned after its shard was listed (the listing's watermark) and scrubs them from
  the shard files. So a withdrawal racing a batch run never brings anyone back, and a person published again
  after an erasure is scored as new.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from sales_ability.data.applicant_folder import ANSWER_NAME
from sales_ability.data.face_tensors import REJECTS_FILE
from sales_ability.errors import SalesAbilityError
from sales_ability.io_utils import read_csv_neutralised, write_csv_neutralised, write_json_atomic, write_parquet_atomic
from sales_ability.results import store as db
from sales_ability.serving.scoring import APPLICANTS_FILE, STRIPS_FILE
from sales_ability.settings import settings

INBOX_ENV = "SALES_ABILITY_INBOX"
OUTBOX_ENV = "SALES_ABILITY_OUTBOX"
SHARDS_DIR = "shards"
DONE_FILE = "done.json"
MAX_ID_LENGTH = 200

log = logging.getLogger(__name__)


class ErasureError(SalesAbilityError):
    """An erasure request that cannot be carried out as asked (a malformed id); nothing was removed."""


class UnknownApplicant(ErasureError):
    """No store holds the applicant: nothing was removed and no tombstone written."""


@dataclass
class Erasure:
    """What ``erase_applicant`` removed, and what it could not reach."""

    applicant_id: str
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    shards_scrubbed: list[str] = field(default_factory=list)
    reports_rewritten: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def removed(self) -> dict:
        """Counts only, for the tombstone (no names, no paths)."""
        return {"rows": self.rows, "files": len(self.files), "shards_scrubbed": len(self.shards_scrubbed),
                "reports": len(self.reports_rewritten)}


def check_applicant_id(applicant_id: str) -> str:
    """``applicant_id`` when it can name one applicant; raises ``ErasureError`` otherwise (before anything is read)."""
    if not isinstance(applicant_id, str) or not applicant_id.strip():
        raise ErasureError("applicant id is empty: nothing erased (an unset variable?)")
    if applicant_id in (".", "..") or any(ch in applicant_id for ch in "/\\\0") or len(applicant_id) > MAX_ID_LENGTH:
        raise ErasureError(f"{applicant_id!r} is not an applicant id (no path separators, not '.' or '..', at most "
                           f"{MAX_ID_LENGTH} characters): nothing erased")
    return applicant_id


def salt(conn: Connection) -> str:
    """The tombstones' salt (read without the lock: for checks that write nothing)."""
    return conn.execute(select(db.erasure_state.c.salt).where(db.erasure_state.c.id == 1)).scalar_one()


def take_lock(conn: Connection) -> str:
    """Update the one ``erasure_state`` row (the first write of the transaction, so erasures and merges
    serialise on it: SQLite's write lock, PostgreSQL's row lock); returns the tombstones' salt."""
    conn.execute(update(db.erasure_state).where(db.erasure_state.c.id == 1)
                 .values(generation=db.erasure_state.c.generation + 1))
    return salt(conn)


def applicant_hash(salt: str, applicant_id: str) -> str:
    """The tombstone's key: HMAC-SHA256 of the id under the database's salt."""
    return hmac.new(salt.encode(), applicant_id.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def tombstone_watermark(conn: Connection) -> int:
    """The newest tombstone's id (0: none): a listing records it, and a merge skips anyone erased after it."""
    return int(conn.execute(select(func.coalesce(func.max(db.tombstones.c.id), 0))).scalar())


def erased_after(conn: Connection, salt: str, applicant_ids: set[str], watermark: int | None) -> set[str]:
    """Those of ``applicant_ids`` tombstoned after ``watermark`` (None: after anything, for shards listed
    before tombstones existed)."""
    query = select(db.tombstones.c.applicant_hash)
    if watermark is not None:
        query = query.where(db.tombstones.c.id > watermark)
    hashes = {r.applicant_hash for r in conn.execute(query)}
    return {a for a in applicant_ids if applicant_hash(salt, a) in hashes}


def scrub_shard(folder: Path, applicant_ids: set[str]) -> bool:
    """Rewrite a finished shard (``done.json`` present) without ``applicant_ids``: results, applicants, face
    strips, rejects and the listing; its face tensors go (merge reads none). Returns whether it held any of
    them. A shard still running is left alone: its merge scrubs it (the tombstone)."""
    done_file = folder / DONE_FILE
    try:
        done = json.loads(done_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    owners = {v["path"]: a["applicant_id"] for a in done.get("applicants", []) for v in a["videos"]}
    if not set(owners.values()) & applicant_ids:
        return False
    gone_clips: set[str] = set()
    if (folder / "results.parquet").is_file():
        results = pd.read_parquet(folder / "results.parquet")
        gone = results["applicant_id"].isin(applicant_ids)
        gone_clips = set(results.loc[gone, "clip_id"])
        _write_frame(folder / "results.parquet", results[~gone], csv=folder / "results.csv")
    if (folder / APPLICANTS_FILE).is_file():
        people = pd.read_parquet(folder / APPLICANTS_FILE)
        _write_frame(folder / APPLICANTS_FILE, people[~people["applicant_id"].isin(applicant_ids)], csv=folder / "applicants.csv")
    if (folder / STRIPS_FILE).is_file():
        strips = pd.read_parquet(folder / STRIPS_FILE)
        _write_frame(folder / STRIPS_FILE, strips[~strips["clip_id"].isin(gone_clips)])
    if (folder / REJECTS_FILE).is_file():
        rejects = read_csv_neutralised(folder / REJECTS_FILE)
        write_csv_neutralised(folder / REJECTS_FILE, rejects[~rejects["source"].map(owners).isin(applicant_ids)])
    shutil.rmtree(folder / "faces", ignore_errors=True)
    write_json_atomic(done_file, {**done, "applicants": [a for a in done.get("applicants", [])
                                                         if a["applicant_id"] not in applicant_ids]})
    return True


def _write_frame(path: Path, frame: pd.DataFrame, csv: Path | None = None) -> None:
    write_parquet_atomic(path, frame)
    if csv is not None and csv.exists():
        write_csv_neutralised(csv, frame)


def _strictly_inside(path: Path, roots: list[Path]) -> bool:
    """Whether ``path`` (its folder resolved, its own name not followed) lies strictly inside one of ``roots``."""
    try:
        where = path.parent.resolve() / path.name
    except (OSError, RuntimeError):
        return False
    return any(root != where and root in where.parents for root in roots)


def _remove(path: Path, done: Erasure) -> None:
    """Remove a file, a link or a real folder (a link is removed, never followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path)
    else:
        return
    done.files.append(str(path))


def deployment_places(conn: Connection, runs: set[str], inbox: str | Path | None,
                      outbox: str | Path | None) -> tuple[list[Path], list[Path], list[str]]:
    """Every inbox and outbox to reach: the ones given, the ones the applicant's batch runs recorded, and the
    deployment's settings (``SALES_ABILITY_INBOX``/``_OUTBOX``). Warnings name a kind of place that is unknown."""
    deployment = settings()
    inboxes, outboxes = [inbox, deployment.inbox], [outbox, deployment.outbox]
    if runs:
        for row in conn.execute(select(db.batch_runs.c.inbox, db.batch_runs.c.outbox).where(db.batch_runs.c.run_id.in_(runs))):
            inboxes.append(row.inbox)
            outboxes.append(row.outbox)
    inbox_roots, outbox_roots = _existing(inboxes), _existing(outboxes)
    warnings = [f"no {kind} is known (pass --{kind} or set {env}): files there were not searched"
                for kind, env, roots in (("inbox", INBOX_ENV, inbox_roots), ("outbox", OUTBOX_ENV, outbox_roots)) if not roots]
    return inbox_roots, outbox_roots, warnings


def _existing(places: list) -> list[Path]:
    """The given folders that exist, resolved, each once."""
    return [Path(p).resolve() for p in dict.fromkeys(p for p in places if p) if Path(p).is_dir()]


def erase_applicant(applicant_id: str, url: str, inbox: str | Path | None = None, outbox: str | Path | None = None,
                    kb: dict | None = None, request: str = "cli") -> Erasure:
    """Remove ``applicant_id`` from the database, the inboxes, the outboxes' shards and the batch reports, and
    leave a tombstone (see the module's docstring).

    Args:
        request: who asked (``cli``, ``website``, ``retention``). The website erases a person it knew even when
            no store holds them yet (a tombstone then stops a shard in flight).

    Raises:
        ErasureError: a malformed id (nothing read, nothing removed).
        UnknownApplicant: no store holds the id (nothing removed), unless ``request`` is ``website``.
    """
    from sales_ability.results.selection import render_selection, run_report_path

    check_applicant_id(applicant_id)
    done = Erasure(applicant_id)
    with db.engine(url).begin() as conn:
        key = take_lock(conn)
        sources = [r.source for r in conn.execute(select(db.videos.c.source).where(db.videos.c.applicant_id == applicant_id))]
        runs = {r.batch_run_id for r in conn.execute(select(db.applicants.c.batch_run_id).where(db.applicants.c.applicant_id == applicant_id))}
        runs |= {r.batch_run_id for r in conn.execute(select(db.videos.c.batch_run_id).where(db.videos.c.applicant_id == applicant_id))}
        runs.discard(None)
        inboxes, outboxes, done.warnings = deployment_places(conn, runs, inbox, outbox)
        targets = _inbox_targets(applicant_id, sources, inboxes)
        shards = _shards_holding(applicant_id, outboxes)
        for table in (db.applicants, db.segments, db.rejects, db.videos, db.self_reports, db.outcomes,
                      db.applications, db.webhook_events):
            done.rows[table.name] = conn.execute(delete(table).where(table.c.applicant_id == applicant_id)).rowcount
        # the review's decisions and events stay, without the person (the oversight rates and the log's steps)
        for table, personal in ((db.decisions, "note"), (db.review_events, "detail")):
            done.rows[table.name] = conn.execute(update(table).where(table.c.applicant_id == applicant_id)
                                                 .values(applicant_id=None, **{personal: None})).rowcount
        cached = _cached_paths_under(conn, sources, targets)
        if cached:
            conn.execute(delete(db.file_hashes).where(db.file_hashes.c.path.in_(cached)))
        found = sum(done.rows.values()) or targets or shards
        if not found and request != "website":
            raise UnknownApplicant(f"no applicant {applicant_id!r} in the results database, the inbox or the outbox: "
                                   "nothing erased")  # rolls back the lock row's update too
        # the files go while the lock is held: a merge waiting on it finds the tombstone and no files
        for target in targets:
            _remove(target, done)
        for shard in shards:
            if scrub_shard(shard, {applicant_id}):
                done.shards_scrubbed.append(str(shard))
        conn.execute(db.tombstones.insert().values(
            applicant_hash=applicant_hash(key, applicant_id), erased_at=_now(), request=request,
            removed=json.dumps(done.removed())))
        conn.execute(db.review_events.insert().values(at=_now(), actor=request, action="erasure",
                                                      detail=json.dumps(done.removed(), sort_keys=True)))
    for root in outboxes:
        for run_id in sorted(runs):
            report = run_report_path(root, run_id)
            if report.is_file() and kb is not None:
                render_selection(url, report, kb, run_id=run_id)
                done.reports_rewritten.append(str(report))
            elif report.is_file():
                _remove(report, done)
    for warning in done.warnings:
        log.warning("erasure: %s", warning)
    return done


def _inbox_targets(applicant_id: str, sources: list[str], inboxes: list[Path]) -> list[Path]:
    """What to remove from the inboxes: the recorded sources strictly inside one (and an answer's applicant
    folder); for an applicant never scored, their own folder directly inside an inbox and its staging copy."""
    targets: list[Path] = []
    for source in map(Path, sources):
        if not _strictly_inside(source, inboxes):
            continue
        folder = source.parent
        if ANSWER_NAME.fullmatch(source.name) and _strictly_inside(folder, inboxes) and not folder.is_symlink():
            targets.append(folder)
        targets.append(source)
    if not sources:
        for root in inboxes:
            for candidate in (root / applicant_id, root / f".{applicant_id}.tmp"):
                if candidate.is_dir() and not candidate.is_symlink() and candidate.parent.resolve() == root:
                    targets.append(candidate)
    return [t for t in dict.fromkeys(targets) if t.is_symlink() or t.exists()]


def _cached_paths_under(conn: Connection, sources: list[str], targets: list[Path]) -> list[str]:
    """The listing's hash-cache rows naming a recorded source or a file inside a removed folder."""
    folders = [t.resolve() for t in targets if t.is_dir() and not t.is_symlink()]
    cached = [r.path for r in conn.execute(select(db.file_hashes.c.path))]
    return [p for p in cached if p in sources or any(f in Path(p).resolve().parents for f in folders)]


def _shards_holding(applicant_id: str, outboxes: list[Path]) -> list[Path]:
    """Finished shard folders whose listing names the applicant."""
    held = []
    for root in outboxes:
        for marker in sorted((root / SHARDS_DIR).glob(f"*/{DONE_FILE}")):
            try:
                shard = json.loads(marker.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if any(a.get("applicant_id") == applicant_id for a in shard.get("applicants", [])):
                held.append(marker.parent)
    return held


def purge_applicants(older_than_days: float, url: str, inbox: str | Path | None = None, outbox: str | Path | None = None,
                     kb: dict | None = None) -> list[Erasure]:
    """Erase every applicant scored more than ``older_than_days`` ago."""
    cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
    with db.engine(url).connect() as conn:
        ids = sorted({r.applicant_id for r in conn.execute(select(db.applicants.c.applicant_id).where(db.applicants.c.scored_at < cutoff))})
    return [erase_applicant(a, url, inbox, outbox, kb, request="retention") for a in ids]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
