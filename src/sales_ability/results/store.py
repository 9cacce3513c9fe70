"""The results database: every scoring outcome, in SQLAlchemy tables with constraints, migrated by Alembic.

One URL for every command and both DAGs: ``SALES_ABILITY_DATABASE_URL`` (PostgreSQL in the stack), else a
SQLite file ``results.db`` in the project (embedded: ``make demo``, ``score`` and ``make airflow`` need
nothing more).

Tables (schema in ``results/migrations``, applied once per deployment by ``migrate``, or on first open):
- ``applicants``: one row per applicant and model version (the ranked row, with intervals);
- ``segments``: one row per scored segment, with the small face strip the model saw (PNG);
- ``rejects``: a video or segment that could not be scored, with its reason;
- ``videos``: the ledger, one row per video that reached an outcome (scored or rejected) and its applicant;
- ``batch_runs``: per run, the model version, knowledge base, counts and timings;
- ``file_hashes``: the listing's cache of content hashes, keyed by path with size, mtime and inode;
- ``self_reports``: the screening website's optional sex and race/ethnicity, for ``sales-ability audit`` only;
- the review workspace's (revision 0008, ``sales_ability.review``): ``accounts`` and ``review_sessions`` (people
  who sign in, hashed passwords and hashed session tokens), ``requisitions`` with ``requisition_recruiters``,
  ``applications`` (which job and tracking-system reference an applicant came with), ``decisions`` (each with
  the score, interval and model version the reviewer saw), ``review_events`` (the append-only log) and
  ``webhook_events`` (the hand-off to the tracking system, delivered with retries);
- ``tombstones`` and ``erasure_state``: who was erased (a salted hash, never the id) and the one lock row that
  erasure and merge both take first, so a shard in flight never brings an erased applicant back
  (``sales_ability.results.erasure``).

Uniqueness is the database's: a segment is unique by (content hash, clip, model version), an applicant by
(applicant, model version), a ledger row by (content hash, applicant). A merge is one transaction whose
inserts skip what exists (``ON CONFLICT DO NOTHING``), so a re-run or two merges racing add nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
)
from sqlalchemy.engine import Connection, Engine

from sales_ability.errors import ConfigError
from sales_ability.io_utils import file_lock
from sales_ability.settings import settings
from sales_ability.traits import TRAITS

DEFAULT_DB_FILE = "results.db"
_BOUNDS = [f"{t}_{end}" for t in TRAITS for end in ("low", "high")]
_SCORES = [f"score_{t}" for t in TRAITS] + [f"score_{t}_{end}" for t in TRAITS for end in ("low", "high")]


class UTCDateTime(TypeDecorator):
    """A moment in UTC (revision 0005): ``timestamptz`` on PostgreSQL, SQLAlchemy's DATETIME text on SQLite, read
    back timezone-aware either way. ISO 8601 strings, dates and naive datetimes (taken as UTC) are accepted, so
    a bound like ``since`` compares as a time, never as text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or (isinstance(value, float) and value != value):  # None, or pandas' NaN
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_PROVENANCE = [Column("model_uri", Text), Column("model_version", String(64), nullable=False),
               Column("knowledge_base", String(32)), Column("knowledge_base_sha256", String(64)),  # revision 0003
               Column("scored_at", UTCDateTime()), Column("batch_run_id", String(250))]

metadata = MetaData()


def _provenance() -> list[Column]:
    return [c.copy() for c in _PROVENANCE]


applicants = Table(
    "applicants", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("applicant_id", String(200), nullable=False, index=True),
    Column("answers", Integer), Column("segments", Integer), Column("face_share", Float),
    *[Column(c, Float) for c in (*TRAITS, *_BOUNDS)], *[Column(c, Integer) for c in _SCORES],
    Column("sales_score", Float), Column("sales_score_low", Float), Column("sales_score_high", Float),
    *_provenance(),
    Column("answers_disagree", Boolean),  # revision 0006
    UniqueConstraint("applicant_id", "model_version", name="uq_applicant_version"),
)
segments = Table(
    "segments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("clip_id", String(250), nullable=False), Column("applicant_id", String(200), nullable=False, index=True),
    Column("source", Text), Column("content_sha256", String(64), nullable=False),
    Column("start_s", Float), Column("end_s", Float),
    *[Column(c, Float) for c in (*TRAITS, *_BOUNDS)], *[Column(c, Integer) for c in _SCORES[:5]],
    Column("sales_score", Float), Column("sales_score_low", Float), Column("sales_score_high", Float),
    Column("face_share", Float), Column("strip_png", LargeBinary),
    *_provenance(),
    UniqueConstraint("content_sha256", "clip_id", "model_version", name="uq_segment_version"),
)
rejects = Table(
    "rejects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False), Column("clip_id", String(250), nullable=False), Column("reason", Text),
    Column("applicant_id", String(200), index=True), Column("batch_run_id", String(250)),
    UniqueConstraint("source", "clip_id", name="uq_reject"),
)
videos = Table(
    "videos", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_sha256", String(64), nullable=False, index=True), Column("source", Text, nullable=False),
    Column("outcome", String(16), nullable=False), Column("reason", Text),
    Column("applicant_id", String(200), nullable=False, index=True), Column("batch_run_id", String(250)),
    Column("recorded_at", UTCDateTime()),
    UniqueConstraint("content_sha256", "applicant_id", name="uq_video_applicant"),
)
batch_runs = Table(
    "batch_runs", metadata,
    Column("run_id", String(250), primary_key=True),
    Column("finished_at", UTCDateTime()), Column("model_uri", Text), Column("model_version", String(200)),
    Column("knowledge_base", String(32)), Column("applicants_new", Integer), Column("segments_new", Integer),
    Column("videos_rejected_new", Integer), Column("merge_seconds", Float),
    Column("inbox", Text), Column("outbox", Text),  # revision 0004: where erasure must reach for this run
)
self_reports = Table(  # revision 0002: the screening self-report, for the bias audit only (never the model's)
    "self_reports", metadata,
    Column("applicant_id", String(200), primary_key=True),
    Column("sex", String(40)), Column("race_ethnicity", String(60)), Column("reported_at", UTCDateTime()),
)
tombstones = Table(  # revision 0004: one per erased applicant, no personal data (a salted hash of the id)
    "tombstones", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("applicant_hash", String(64), nullable=False, index=True),
    Column("erased_at", UTCDateTime(), nullable=False), Column("request", String(40)), Column("removed", Text),
)
erasure_state = Table(  # revision 0004: one row; its salt keys the tombstones, its update serialises erasure and merge
    "erasure_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("salt", String(64), nullable=False), Column("generation", BigInteger, nullable=False),
)
outcomes = Table(  # revision 0007: hires' job outcomes, for the validity study (``outcomes/``); erased with the applicant
    "outcomes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("applicant_id", String(200), nullable=False, index=True),
    Column("requisition", String(200)), Column("hire_date", UTCDateTime()),
    Column("outcome", String(100), nullable=False), Column("value", Float, nullable=False),
    Column("period", String(100), nullable=False),  # what the figure covers, e.g. "2027-Q1" or "first 6 months"
    Column("import_id", String(64), nullable=False), Column("imported_at", UTCDateTime(), nullable=False),
    UniqueConstraint("applicant_id", "outcome", "period", name="uq_outcome"),
)
# revision 0008: the review workspace (sales_ability.review); erasure empties the applicant's fields in decisions and
# events (kept, without personal data, for the oversight rates) and deletes their application and webhook events
accounts = Table(
    "accounts", metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # recruiter | auditor | admin
    Column("password_hash", String(200), nullable=False),  # Argon2id
    Column("disabled", Boolean, nullable=False),
    Column("failed_sign_ins", Integer, nullable=False),
    Column("locked_until", UTCDateTime()), Column("created_at", UTCDateTime(), nullable=False),
)
review_sessions = Table(
    "review_sessions", metadata,
    Column("token_sha256", String(64), primary_key=True),  # the cookie's token is never stored, only its hash
    Column("username", String(64), nullable=False), Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False), Column("expires_at", UTCDateTime(), nullable=False),
)
requisitions = Table(
    "requisitions", metadata,
    Column("requisition_id", String(64), primary_key=True), Column("title", String(200), nullable=False),
    Column("knowledge_base", String(64), nullable=False), Column("created_at", UTCDateTime(), nullable=False),
)
requisition_recruiters = Table(
    "requisition_recruiters", metadata,
    Column("requisition_id", String(64), primary_key=True), Column("username", String(64), primary_key=True),
)
applications = Table(
    "applications", metadata,
    Column("applicant_id", String(200), primary_key=True),
    Column("requisition_id", String(64), nullable=False, index=True),
    Column("ats_reference", String(100)), Column("applied_at", UTCDateTime()),
)
decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("applicant_id", String(200), index=True),  # emptied by erasure
    Column("requisition_id", String(64), nullable=False), Column("reviewer", String(64), nullable=False),
    Column("decision", String(16), nullable=False), Column("reason", String(64), nullable=False),
    Column("note", Text),  # emptied by erasure
    Column("sales_score", Float), Column("sales_score_low", Float), Column("sales_score_high", Float),
    Column("band", String(16)), Column("model_version", String(64)),
    Column("answers_played", Integer, nullable=False), Column("unwatched", Boolean, nullable=False),
    Column("decided_at", UTCDateTime(), nullable=False),
)
review_events = Table(
    "review_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False), Column("actor", String(64), nullable=False),
    Column("action", String(40), nullable=False), Column("requisition_id", String(64)),
    Column("applicant_id", String(200), index=True),  # emptied by erasure
    Column("model_version", String(64)), Column("detail", Text),  # detail emptied by erasure
)
webhook_events = Table(
    "webhook_events", metadata,
    Column("event_id", String(64), primary_key=True),  # the receiver's idempotency key, the same on every retry
    Column("kind", String(40), nullable=False), Column("requisition_id", String(64)),
    Column("applicant_id", String(200), index=True), Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False), Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime()), Column("delivered_at", UTCDateTime()), Column("last_error", Text),
)
file_hashes = Table(
    "file_hashes", metadata,
    Column("path", String(1000), primary_key=True),
    Column("size", BigInteger, nullable=False), Column("mtime_ns", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False), Column("sha256", String(64), nullable=False),
)
APPLICANT_ROWS = [c.name for c in applicants.columns if c.name != "id"]
SEGMENT_ROWS = [c.name for c in segments.columns if c.name != "id"]


def database_url(project_dir: str | Path | None = None, url: str | None = None) -> str:
    """``url``, else ``SALES_ABILITY_DATABASE_URL``, else ``sqlite:///<project>/results.db``."""
    if url:
        return url
    if url := settings().database_url:
        return url
    return f"sqlite:///{Path(project_dir or '.').resolve() / DEFAULT_DB_FILE}"


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


@cache
def _scripts():
    """This release's revisions (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The newest revision this code knows."""
    return _scripts().get_current_head()


def schema_revision(connection: Connection) -> str | None:
    """The revision a database is at (None: no schema yet)."""
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _create_engine(url: str) -> tuple[Engine, Path | None]:
    lock_file = None
    if url.startswith("sqlite:///"):
        db_file = Path(url.removeprefix("sqlite:///"))
        db_file.parent.mkdir(parents=True, exist_ok=True)
        lock_file = db_file.with_name(db_file.name + ".migrate.lock")
    # SQLite: writers wait for each other (two merges racing) instead of failing with "database is locked"
    eng = create_engine(url, connect_args={"timeout": 60} if url.startswith("sqlite") else {}, pool_pre_ping=True)
    return eng, lock_file


def migrate(url: str) -> tuple[str | None, str]:
    """Upgrade the database at ``url`` to this code's head: what a deployment runs once (``sales-ability applicants
    migrate``: ``make airflow``, the compose file's ``airflow-init``, the stack test). Serialised across processes:
    a file lock beside a SQLite database, a transaction-scoped advisory lock on PostgreSQL. Returns the revisions
    before and after."""
    from alembic import command

    eng, lock_file = _create_engine(url)
    config = _alembic_config()
    try:
        with file_lock(lock_file), eng.begin() as connection:
            if connection.dialect.name == "postgresql":
                from sqlalchemy import text

                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            before = schema_revision(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            return before, schema_revision(connection)
    finally:
        eng.dispose()


@cache
def engine(url: str) -> Engine:
    """The engine for ``url``, once per process, its schema checked against this code's head.

    A database at the head (a deployment migrated it) is used as it is, without taking the migration lock. One
    behind or empty (a first ``make demo`` or ``score``, which have no deployment step) is upgraded here, under
    ``migrate``'s lock, so two workers opening a fresh database at once do not race."""
    from alembic.util import CommandError

    eng, _ = _create_engine(url)
    with eng.connect() as connection:
        current = schema_revision(connection)
    head = head_revision()
    if current != head:
        try:
            if current is not None:
                _scripts().get_revision(current)
        except CommandError:
            raise ConfigError(f"the results database is at revision {current}, which this release does not know "
                              f"(its newest is {head}): run the release that migrated it") from None
        migrate(url)
    return eng


MIGRATION_LOCK_KEY = 0x5A1E5AB1  # PostgreSQL advisory lock key of the results database's upgrades


def insert_new(connection: Connection, table: Table, rows: Iterable[dict]) -> None:
    """Insert ``rows``, skipping those a unique constraint already holds (SQLite and PostgreSQL)."""
    rows = list(rows)
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    connection.execute(insert(table).on_conflict_do_nothing(), rows)


def read_table(connection: Connection, table: Table, where=None, order_by=None, limit: int | None = None):
    """Rows of ``table`` as a DataFrame (columns in table order, without the surrogate id)."""
    import pandas as pd
    from sqlalchemy import select

    query = select(*[c for c in table.columns if c.name != "id"])
    if where is not None:
        query = query.where(where)
    if order_by is not None:
        query = query.order_by(*order_by)
    if limit is not None:
        query = query.limit(limit)
    result = connection.execute(query)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
