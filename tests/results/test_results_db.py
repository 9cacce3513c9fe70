"""The results database: re-runs and racing merges by constraint, listing cost by what is new, erasure everywhere."""

from __future__ import annotations

import multiprocessing as mp
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sales_ability.knowledge.rate import paper_knowledge_base
from sales_ability.results import store as db
from sales_ability.operations.batch import list_new_applicants, merge_shards, score_shard


def _copy_shards(scored: dict, dest: Path) -> list[str]:
    return [str(shutil.copytree(s, dest / "shards" / Path(s).name)) for s in scored["shards"]]


def _counts(url: str) -> dict[str, int]:
    with db.engine(url).connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar())
                for t in (db.applicants, db.segments, db.videos, db.rejects)}


def test_a_rerun_is_idempotent_through_the_database(scored: dict, tmp_path: Path) -> None:
    url, outbox = f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "outbox"
    shards = _copy_shards(scored, outbox)
    first = merge_shards(shards, outbox, scored["kb"], scored["model"], url, "run-1")
    assert first["applicants_new"] == 3 and first["segments_new"] == 5
    after = _counts(url)
    assert after == {"applicants": 3, "segments": 5, "videos": 5, "rejects": 0}
    assert not any((Path(s) / "faces").exists() for s in shards)  # merged: the face tensors are gone
    with db.engine(url).connect() as conn:
        strips = conn.execute(select(db.segments.c.strip_png)).fetchall()
    assert all(row.strip_png[:4] == b"\x89PNG" for row in strips)  # the small strips live in the database
    assert (outbox / "reports" / "run-1.html").read_text().count('class="applicant"') == 3
    again = merge_shards(shards, outbox, scored["kb"], scored["model"], url, "run-1")  # a retried task
    other = merge_shards(shards, outbox, scored["kb"], scored["model"], url, "run-2")  # a re-run
    assert again["applicants_new"] == 3 and other["applicants_new"] == 0
    assert _counts(url) == after
    assert list_new_applicants(scored["inbox"], outbox, 2, database_url=url)["shards"] == []


def _merge(args: tuple) -> dict:
    return merge_shards(*args)


def test_two_merges_racing_lose_and_duplicate_nothing(scored: dict, tmp_path: Path) -> None:
    context = mp.get_context("spawn")
    for round_ in range(3):  # a fixed number of rounds, each two processes merging the same shards at once
        url, outbox = f"sqlite:///{tmp_path / f'race{round_}.db'}", tmp_path / f"outbox{round_}"
        shards = _copy_shards(scored, outbox)
        db.engine(url)  # the schema exists before the race (both would otherwise migrate at once)
        with context.Pool(2) as pool:
            results = pool.map(_merge, [(shards, outbox, scored["kb"], scored["model"], url, f"racer-{i}", False) for i in (0, 1)])
        assert sum(r["applicants_new"] for r in results) == 3, results  # each applicant inserted by exactly one
        assert _counts(url) == {"applicants": 3, "segments": 5, "videos": 5, "rejects": 0}


def test_listing_hashes_only_what_is_new_or_changed(scored: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sales_ability.operations.batch as batch

    inbox = tmp_path / "inbox"
    shutil.copytree(scored["inbox"], inbox)
    url = f"sqlite:///{tmp_path / 'h.db'}"
    hashed: list[str] = []
    real = batch.content_hash
    monkeypatch.setattr(batch, "content_hash", lambda p: hashed.append(Path(p).name) or real(p))
    list_new_applicants(inbox, tmp_path / "outbox", 2, database_url=url)
    assert len(hashed) == 5
    hashed.clear()
    list_new_applicants(inbox, tmp_path / "outbox", 2, database_url=url)
    assert hashed == []  # same path, size, mtime and inode: the cache answers
    (inbox / "carl.mp4").write_bytes((inbox / "carl.mp4").read_bytes() + b"\0")
    list_new_applicants(inbox, tmp_path / "outbox", 2, database_url=url)
    assert hashed == ["carl.mp4"]


def _traces(applicant: str, url: str, folders: list[Path]) -> list[str]:
    """Every row and file that names the applicant: text columns of every table, file paths and contents."""
    found = []
    with db.engine(url).connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                if any(isinstance(v, str) and applicant in v for v in row):
                    found.append(f"{table.name} row")
    for folder in folders:
        for path in folder.rglob("*"):
            if applicant in str(path.relative_to(folder)) or (path.is_file() and applicant.encode() in path.read_bytes()):
                found.append(str(path))
    return found


def test_erasure_leaves_no_trace_in_any_store(scored: dict, tmp_path: Path) -> None:
    from sales_ability.results.erasure import erase_applicant

    inbox, outbox, url = tmp_path / "inbox", tmp_path / "outbox", f"sqlite:///{tmp_path / 'e.db'}"
    shutil.copytree(scored["inbox"], inbox)
    listing = list_new_applicants(inbox, outbox, 2, database_url=url)
    shards = [score_shard(s, outbox, scored["kb"], scored["model"]) for s in listing["shards"]]
    merge_shards(shards, outbox, scored["kb"], scored["model"], url, "run-e")
    before = _traces("ann_k", url, [inbox, outbox])
    assert {"applicants row", "segments row", "videos row", "file_hashes row"} <= set(before)
    assert any("inbox/ann_k" in t for t in before) and any("shards" in t for t in before)
    assert any(t.endswith("run-e.html") for t in before)
    done = erase_applicant("ann_k", url, inbox, outbox, paper_knowledge_base())
    assert done.rows["applicants"] == 1 and done.reports_rewritten
    assert _traces("ann_k", url, [inbox, outbox]) == []
    assert _traces("bob_k", url, [inbox, outbox])  # the others stay
    assert (outbox / "reports" / "run-e.html").read_text().count('class="applicant"') == 2


def test_the_frozen_revisions_build_exactly_the_tables_the_code_uses(tmp_path: Path) -> None:
    """Revision 0001 is spelt out with op.create_table; 0001..head on an empty database must give the schema the
    package's Table objects describe, column for column (Alembic's own comparison finds no difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    eng = db.engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    with eng.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, db.metadata) if d[0] != "remove_table" or d[1].name != "alembic_version"]
        head = context.get_current_revision()
    assert differences == [] and head == "0008"


def test_timestamps_written_as_text_become_times_and_compare_as_times(tmp_path: Path) -> None:
    """Revision 0005 converts the ISO 8601 text rows of a database made before it; afterwards every timestamp reads
    back timezone-aware, and a date bound compares as a time (a text comparison put '2026-12-03T...' after
    '2026-12-03 23:00')."""
    from datetime import UTC, datetime

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    with create_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(text("INSERT INTO self_reports (applicant_id, sex, reported_at) VALUES ('a', 'female', "
                                "'2026-12-03T13:07:26+00:00')"))
        connection.execute(text("INSERT INTO tombstones (applicant_hash, erased_at) VALUES ('h', '2026-11-30T08:00:00+00:00')"))
    with db.engine(url).begin() as conn:  # upgrades to head on first use
        (reported,) = conn.execute(select(db.self_reports.c.reported_at)).scalars()
        (erased,) = conn.execute(select(db.tombstones.c.erased_at)).scalars()
        conn.execute(db.self_reports.insert().values(applicant_id="b", reported_at="2026-12-03T23:30:00+01:00"))
        late = conn.execute(select(db.self_reports.c.applicant_id).where(
            db.self_reports.c.reported_at >= datetime(2026, 12, 3, 22, 0, tzinfo=UTC))).scalars().all()
    assert reported == datetime(2026, 12, 3, 13, 7, 26, tzinfo=UTC) and erased == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert late == ["b"]  # 23:30 at +01:00 is 22:30 UTC: after 22:00 UTC, compared as a time


def test_a_deployment_migrates_once_and_commands_then_find_the_schema_current(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from sales_ability.errors import ConfigError
    from tests.conftest import run_cli

    url = f"sqlite:///{tmp_path / 'deployed.db'}"
    first = run_cli("applicants", "migrate", "--database-url", url)
    assert first.returncode == 0 and "at revision 0008 (was empty)" in first.stderr, first.stdout + first.stderr
    again = run_cli("applicants", "migrate", "--database-url", url)
    assert "at revision 0008" in again.stderr and "was" not in again.stderr  # the console writes to stderr
    lock = tmp_path / "deployed.db.migrate.lock"
    lock.unlink()
    db.engine(url)  # at the head: used as it is, no migration lock taken
    assert not lock.exists()
    newer = f"sqlite:///{tmp_path / 'newer.db'}"
    with create_engine(newer).begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0099')"))
    with pytest.raises(ConfigError, match="revision 0099, which this release does not know"):
        db.engine(newer)
