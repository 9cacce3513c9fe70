"""Batch scoring of an inbox folder, in shards: the logic behind the ``sales_ability_batch_scoring`` DAG.

The unit is the **applicant**: a folder of ``answer_<n>.<ext>`` recordings (the website's screening mode
publishes one, atomically, when the applicant completes), or a loose video (an applicant of its own).

- **When a folder is scored.** When it is complete: it holds ``complete.json`` (the marker the website
  writes last), or its ``metadata.json`` says ``"status": "complete"`` (a research export). A folder without
  either is waiting and is listed on every run until it completes.
- **Once.** The results database's ledger (``videos``, ``sales_ability.results.store``) records every
  video that reached an outcome (scored or rejected) with its applicant. A folder applicant already in the ledger is never scored again: an answer that arrives after
  scoring is a *late answer*, counted and named in the run's counts (``late``) and left unscored; to score
  the applicant again with it, erase them (``sales-ability applicants delete``) and publish them again. A loose video is known by the
  sha256 of its content (a renamed copy is not scored twice); a loose stem already used by another
  applicant gets ``~<6 hex of its content hash>``.
- **Idempotent.** Each shard's work lands in ``outbox/shards/<shard id>/`` (the id is a hash of its contents,
  so a retried or re-run task finds its own output), and merging inserts only applicants the ledger lacks,
  in one transaction, under the database's unique constraints.
- **Cost grows with what is new.** Listing re-hashes only files the hash cache does not know at the same
  size, mtime and inode; merging inserts new rows only; a merged shard's face tensors are removed (its
  face strips live in the database); each run's report holds the applicants it scored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pandas as pd

from sales_ability.config import load_params
from sales_ability.data.applicant_folder import VIDEO_EXTENSIONS, answer_number, is_complete
from sales_ability.data.face_tensors import REJECTS_FILE
from sales_ability.data.segments import applicant_of, disambiguated
from sales_ability.errors import ConfigError, ModelError, SalesAbilityError
from sales_ability.io_utils import content_hash, read_csv_neutralised, write_json_atomic
from sales_ability.knowledge.rate import load_knowledge_base
from sales_ability.registry.models import champion_uri, pin_version, project_model_name
from sales_ability.registry.tracking import BATCH_EXPERIMENT, flatten_metrics, stage_run
from sales_ability.serving.scoring import read_applicants, read_strips, score_videos
from sales_ability.settings import settings


log = logging.getLogger(__name__)


class ScoringConfigError(SalesAbilityError):
    """A folder, knowledge base or model the configuration names does not exist: retrying cannot help."""


def list_new_applicants(inbox: str | Path, outbox: str | Path, shard_size: int, missing_ok: bool = False,
                        knowledge_base: str | Path | None = None, database_url: str | None = None,
                        max_shards: int | None = None, run_id: str | None = None, model_uri: str | None = None,
                        tracking: str | None = None) -> dict:
    """Shards of inbox applicants not scored yet, and the inbox's state.

    Args:
        shard_size: videos per shard (an applicant's answers stay in one shard).
        missing_ok: a missing inbox means nothing has arrived yet (the default inbox of a fresh install).
        knowledge_base: checked when there is something to score.
        database_url: the results database (default: ``results.store.database_url`` beside the outbox).
        max_shards: at most this many shards per run (default: the ``max_shards`` setting,
            ``SALES_ABILITY_MAX_SHARDS``, 256: under Airflow's 1,024 mapped tasks); the other applicants wait for the next run.
        run_id: the batch run that the inbox's bad entries are recorded under (the ``rejects`` table).
        model_uri: the model to score with; an alias (``models:/NAME@champion``) is pinned here, once, to the
            version it names (``models:/NAME/<n>``), and every shard carries that URI: a promotion or a retry
            during the run never mixes versions. Pinned only when there is something to score.

    Returns:
        ``{"shards": [{"shard_id", "tombstone_watermark", "applicants": [{"applicant_id", "videos": [{"path",
        "sha256"}]}]}], "waiting": [folder names], "late": [applicant ids], "rejected": [{"source", "reason"}],
        "carried_over": int}`` (JSON-serialisable for XCom).

    Raises:
        ScoringConfigError: the inbox (unless ``missing_ok``) or the knowledge base does not exist.
    """
    from sqlalchemy import select

    from sales_ability.results import store as db
    from sales_ability.results.erasure import tombstone_watermark

    inbox, outbox = Path(inbox), Path(outbox)
    if not inbox.is_dir():
        if missing_ok:
            return {"shards": [], "waiting": [], "late": [], "rejected": [], "carried_over": 0}
        raise ScoringConfigError(f"{inbox}: inbox folder not found")
    cap = max_shards or settings().max_shards
    with db.engine(db.database_url(outbox.parent, database_url)).begin() as conn:
        watermark = tombstone_watermark(conn)  # anyone erased after this is skipped by the merge
        ledger = conn.execute(select(db.videos.c.content_sha256, db.videos.c.source, db.videos.c.applicant_id)).fetchall()
        videos, rejected = walk_inbox(inbox)
        plan = _plan(inbox, ledger, videos, shard_size, knowledge_base, lambda paths: cached_hashes(conn, paths), rejected)
        db.insert_new(conn, db.rejects, [{"source": r["source"], "clip_id": "", "reason": r["reason"], "applicant_id": None,
                                          "batch_run_id": run_id} for r in plan["rejected"]])
    plan["carried_over"] = sum(len(shard["applicants"]) for shard in plan["shards"][cap:])
    pinned = {}
    if model_uri and plan["shards"]:
        try:
            pinned = {"model_uri": pin_version(model_uri, tracking)}
        except ModelError as err:  # no champion, no such model: a configuration error
            raise ScoringConfigError(str(err)) from None
    # the watermark is part of the id: someone published again after an erasure never reuses the scrubbed shard
    plan["shards"] = [{**shard, "shard_id": _shard_id(shard["applicants"], watermark), "tombstone_watermark": watermark,
                       **pinned} for shard in plan["shards"][:cap]]
    return plan


def walk_inbox(inbox: Path) -> tuple[list[Path], list[dict]]:
    """Regular video files under ``inbox`` (sorted), and the entries refused with their reason.

    Hidden entries (``.name``: the website's staging copies, editors' leftovers) are skipped. A link is
    refused, never followed (another applicant's recording, or a file outside the inbox, is never scored as
    this one's), and so is anything that is not a regular file (a FIFO named like a video would hang a read)
    and a name that is not valid UTF-8 (shown with its bytes escaped). One bad entry never stops the walk."""
    videos: list[Path] = []
    rejected: list[dict] = []
    folders = [inbox]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            rejected.append({"source": shown_path(folder), "reason": f"folder cannot be read ({err.strerror})"})
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            is_video = os.path.splitext(entry.name)[1].lower() in VIDEO_EXTENSIONS
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:
                rejected.append({"source": shown_path(path), "reason": "name is not valid UTF-8: not scored (rename it)"})
                continue
            if entry.is_symlink():
                if is_video or entry.is_dir():
                    rejected.append({"source": str(path), "reason": "a symbolic link: only regular files inside the "
                                                                    "applicant's own folder are scored"})
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append(path)
            elif is_video and entry.is_file(follow_symlinks=False):
                videos.append(path)
            elif is_video:
                rejected.append({"source": str(path), "reason": "not a regular file (a FIFO, socket or device): not read"})
    return sorted(videos), rejected


def shown_path(path: Path) -> str:
    """``path`` as text that any store can hold: bytes that are not UTF-8 escaped as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _plan(inbox: Path, ledger: list, videos: list[Path], shard_size: int, knowledge_base, hashes, rejected: list[dict]) -> dict:
    """Which inbox applicants to score (``hashes``: paths -> sha256, from the cache), waiting and late ones.

    A folder keeps the id the ledger gave it when it was scored. A new folder is named after itself unless
    another folder in the inbox or someone in the ledger already has that name: then it gets
    ``~<6 hex of its path>``, as segmentation does. A loose video yields its stem to a folder of the same name,
    so a folder is never shadowed by a loose video's stem."""
    from collections import Counter

    done_hashes = {row.content_sha256 for row in ledger}
    done_applicants = {row.applicant_id for row in ledger}
    sources: dict[str, set[str]] = {}
    scored_folders: dict[str, str] = {}  # folder -> the id it was scored under
    for row in ledger:
        sources.setdefault(row.applicant_id, set()).add(row.source)
        if answer_number(row.source) is not None:
            scored_folders[str(Path(row.source).parent)] = row.applicant_id
    folders: dict[Path, list[Path]] = {}
    loose: list[Path] = []
    for path in videos:
        if applicant_of(path)[1] is not None and path.parent != inbox:
            folders.setdefault(path.parent, []).append(path)
        else:
            loose.append(path)
    folder_names = Counter(folder.name for folder in folders)
    applicants, waiting, late, seen = [], [], [], set()
    for folder, answers in sorted(folders.items()):
        name = scored_folders.get(str(folder))
        if name is None:
            name = folder.name
            if folder_names[name] > 1 or name in done_applicants:
                name = disambiguated(name, folder.resolve())
        if name in done_applicants:
            if any(str(v) not in sources[name] for v in answers):
                late.append(name)
            continue
        if not is_complete(folder):
            waiting.append(name)
            continue
        digests = _hashes_or_reject(hashes, answers, rejected)
        if len(digests) < len(answers):  # an answer could not be read: the folder waits, nothing half-scored
            continue
        applicants.append({"applicant_id": name, "videos": [{"path": str(v), "sha256": digests[str(v)]} for v in answers]})
        seen.add(name)
    loose_hashes = _hashes_or_reject(hashes, loose, rejected)
    for path in loose:
        digest = loose_hashes.get(str(path))
        if digest is None or digest in done_hashes:
            continue
        done_hashes.add(digest)  # a renamed copy in the same inbox: once
        name = path.stem
        if name in done_applicants or name in seen or name in folder_names:
            name = disambiguated(name, digest)
        seen.add(name)
        applicants.append({"applicant_id": name, "videos": [{"path": str(path), "sha256": digest}]})
    if applicants and knowledge_base is not None and not Path(knowledge_base).is_file():
        raise ScoringConfigError(f"{knowledge_base}: knowledge base not found (run `make demo`, or pass knowledge_base)")
    shards, current = [], []
    for applicant in applicants:
        current.append(applicant)
        if sum(len(a["videos"]) for a in current) >= shard_size:
            shards.append(current)
            current = []
    if current:
        shards.append(current)
    return {"shards": [{"shard_id": _shard_id(part), "applicants": part} for part in shards],
            "waiting": waiting, "late": late, "rejected": rejected}


def _hashes_or_reject(hashes, paths: list[Path], rejected: list[dict]) -> dict[str, str]:
    """Content hashes of ``paths``; a file that cannot be read (gone, replaced by a FIFO) is rejected."""
    try:
        return hashes(paths)
    except OSError:
        out = {}
        for path in paths:
            try:
                out.update(hashes([path]))
            except OSError as err:
                rejected.append({"source": str(path), "reason": f"cannot be read ({err.strerror or err})"})
        return out


def _shard_id(applicants: list[dict], watermark: int = 0) -> str:
    digest = hashlib.sha256(str(watermark).encode() if watermark else b"")
    for a in applicants:
        digest.update(a["applicant_id"].encode())
        for v in a["videos"]:
            digest.update(v["sha256"].encode())
    return digest.hexdigest()[:16]


def shard_videos(shard: dict) -> list[dict]:
    """``[{"path", "sha256", "applicant_id"}]`` of a shard."""
    return [{**v, "applicant_id": a["applicant_id"]} for a in shard["applicants"] for v in a["videos"]]


def score_shard(shard: dict, outbox: str | Path, kb_file: str | Path | None, model_uri: str,
                params_file: str | Path | None = None, tracking: str | None = None,
                database_url: str | None = None) -> str:
    """Featurize and score one shard into ``outbox/shards/<shard_id>``; returns that folder.

    The model is resolved before anything is featurized; the featurize settings are the model's own, and
    ``params_file``'s (when it exists) must agree with them. The knowledge base is the one logged with the
    resolved model version unless ``kb_file`` names another, so a retraining that rewrites
    ``models/knowledge_base.json`` meanwhile cannot change what a batch rates with.

    An applicant withdrawn since the listing (a file gone, or a tombstone in ``database_url``) is dropped
    before anything of theirs is read; the shard's other applicants are scored as usual.

    Raises:
        ScoringConfigError: no such model, or featurize settings that differ from the model's training.
    """
    folder = Path(outbox) / "shards" / shard["shard_id"]
    if (folder / "done.json").is_file():  # a retry or re-run of a finished shard
        return str(folder)
    log.info("shard %s: %s", shard["shard_id"], _start_note())
    shard = {**shard, "applicants": _still_here(shard, database_url)}
    model_uri = shard.get("model_uri") or model_uri  # the version the listing pinned for the whole run
    project = load_params(params_file) if params_file and Path(params_file).is_file() else None
    videos = shard_videos(shard)
    folder.mkdir(parents=True, exist_ok=True)
    if videos:
        try:
            score_videos([v["path"] for v in videos], folder, load_knowledge_base(kb_file) if kb_file else None, model_uri,
                         project.featurize if project else None, progress=False, write_report=False,
                         known_hashes={v["path"]: v["sha256"] for v in videos}, tracking=tracking,
                         coverage=project.intervals.coverage if project else 0.9,
                         applicant_ids={v["path"]: v["applicant_id"] for v in videos})
        except ModelError as err:  # a configuration error: retrying cannot help
            raise ScoringConfigError(str(err)) from None
    write_json_atomic(folder / "done.json", shard)  # the listing's names and hashes win
    return str(folder)


# How a shard task's first log line says it started; the stack test reads its logs for these.
STARTED_PRELOADED = "the worker preloaded the scoring stack"
STARTED_COLD = "starting cold"


def _start_note() -> str:
    """Whether this task starts warm: forked from a worker that preloaded the scoring stack (celery_config)."""
    import sys

    preload = sys.modules.get("sales_ability.operations.worker_preload")
    if preload is None:
        return f"{STARTED_COLD}: this task imports Keras and MLflow itself (see sales_ability.operations.celery_config)"
    if preload.FAILED:
        return f"the worker's preload failed, this task imports these itself: {'; '.join(preload.FAILED)}"
    return f"{STARTED_PRELOADED} (Keras, MLflow, featurize)"


def _still_here(shard: dict, database_url: str | None) -> list[dict]:
    """The shard's applicants whose every file is still a regular file and who were not erased since listing."""
    import stat

    def present(path: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            return False

    kept = [a for a in shard["applicants"] if all(present(v["path"]) for v in a["videos"])]
    if database_url and kept:
        from sales_ability.results import store as db
        from sales_ability.results.erasure import erased_after, salt

        with db.engine(database_url).connect() as conn:
            erased = erased_after(conn, salt(conn), {a["applicant_id"] for a in kept}, shard.get("tombstone_watermark"))
        kept = [a for a in kept if a["applicant_id"] not in erased]
    if len(kept) < len(shard["applicants"]):
        log.info("shard %s: %d of %d applicants withdrawn or gone since listing, not scored", shard["shard_id"],
                 len(shard["applicants"]) - len(kept), len(shard["applicants"]))
    return kept


def batch_model_uri(model_uri: str, project: str | Path) -> str:
    """``model_uri``, or when it is empty the champion of the project's ``registry.model_name``.

    Raises:
        ScoringConfigError: the project's params.yaml is not valid.
    """
    if model_uri:
        return model_uri

    try:
        return champion_uri(project_model_name(project))
    except ConfigError as err:
        raise ScoringConfigError(str(err)) from None


def merge_shards(shard_dirs: list[str], outbox: str | Path, kb_file: str | Path | None, model_uri: str,
                 database_url: str | None = None, run_id: str = "manual", write_run_report: bool = True,
                 inbox: str | Path | None = None) -> dict:
    """Insert new shard results (applicants, segments with their strips, rejects, ledger) into the results
    database in one transaction, then drop the shards' face tensors and write the run's report
    (``outbox/reports/<run id>.html``, the applicants this run scored). Returns counts.

    An applicant the ledger already holds is skipped (a re-run); the database's unique constraints make two
    merges racing add nothing twice. The transaction takes the erasure lock first, so an applicant erased
    after their shard was listed is never inserted; they are scrubbed from the shard's files instead. A shard
    folder without its ``done.json`` is skipped with a warning, never fatal to the others. The run records
    its ``inbox`` and ``outbox``, so a later erasure reaches them by default. The run's knowledge base is
    ``kb_file``, else the one the shards were rated with (``knowledge_base.json`` in each shard folder).
    """
    import shutil
    import time

    from sqlalchemy import delete, func, select

    from sales_ability.results import store as db
    from sales_ability.results.erasure import erased_after, scrub_shard, take_lock
    from sales_ability.results.selection import render_selection, run_report_path

    started = time.perf_counter()
    outbox = Path(outbox)
    url = db.database_url(outbox.parent, database_url)
    used = next((Path(d) / "knowledge_base.json" for d in shard_dirs if (Path(d) / "knowledge_base.json").is_file()), None)
    kb = load_knowledge_base(kb_file or used) if kb_file or used else {}
    withdrawn: dict[Path, set[str]] = {}
    pinned: set[str] = set()  # the versions the listing pinned (one per run)
    with db.engine(url).begin() as conn:
        salt = take_lock(conn)  # first: an erasure racing this merge either finished before or waits until after
        known = {r.applicant_id for r in conn.execute(select(db.videos.c.applicant_id).distinct())}
        for folder in map(Path, shard_dirs):
            try:
                shard = json.loads((folder / "done.json").read_text())
            except (OSError, json.JSONDecodeError) as err:
                log.warning("shard %s skipped: no readable done.json (%s)", folder.name, type(err).__name__)
                continue
            pinned.add(shard.get("model_uri") or model_uri)
            videos = shard_videos(shard)
            listed = {v["applicant_id"] for v in videos}
            withdrawn[folder] = erased_after(conn, salt, listed, shard.get("tombstone_watermark"))
            fresh = listed - known - withdrawn[folder]
            if not fresh:
                continue
            known |= fresh
            results = pd.read_parquet(folder / "results.parquet")
            results = results[results["applicant_id"].isin(fresh)]
            pngs = read_strips(folder).set_index("clip_id")["strip_png"]
            segment_rows = results.assign(strip_png=results["clip_id"].map(pngs), batch_run_id=run_id)
            db.insert_new(conn, db.segments, _records(segment_rows, db.SEGMENT_ROWS))
            people = read_applicants(folder)
            people = people[people["applicant_id"].isin(fresh)].assign(batch_run_id=run_id)
            db.insert_new(conn, db.applicants, _records(people, db.APPLICANT_ROWS))
            rejects = read_csv_neutralised(folder / REJECTS_FILE)
            owner = {v["path"]: v["applicant_id"] for v in videos}
            rejects = rejects.assign(applicant_id=rejects["source"].map(owner), batch_run_id=run_id)
            rejects = rejects[rejects["applicant_id"].isin(fresh)]
            db.insert_new(conn, db.rejects, _records(rejects, ["source", "clip_id", "reason", "applicant_id", "batch_run_id"]))
            scored = set(results["source"])
            reasons = rejects.groupby("source")["reason"].first().to_dict() if len(rejects) else {}
            db.insert_new(conn, db.videos, [
                {"content_sha256": v["sha256"], "source": v["path"], "outcome": "scored" if v["path"] in scored else "rejected",
                 "reason": "" if v["path"] in scored else reasons.get(v["path"], "no segment could be scored"),
                 "applicant_id": v["applicant_id"], "batch_run_id": run_id, "recorded_at": _now()}
                for v in videos if v["applicant_id"] in fresh])

        def count(table, *where) -> int:
            return int(conn.execute(select(func.count()).select_from(table).where(table.c.batch_run_id == run_id, *where)).scalar())

        counts = {"applicants_new": count(db.applicants), "segments_new": count(db.segments),
                  "videos_rejected_new": count(db.videos, db.videos.c.outcome == "rejected")}
        versions = sorted({str(r.model_version) for r in conn.execute(
            select(db.applicants.c.model_version).where(db.applicants.c.batch_run_id == run_id).distinct())})
        conn.execute(delete(db.batch_runs).where(db.batch_runs.c.run_id == run_id))
        conn.execute(db.batch_runs.insert().values(
            run_id=run_id, finished_at=_now(), model_uri=", ".join(sorted(pinned)) or model_uri, model_version=", ".join(versions),
            knowledge_base=kb.get("knowledge_base", "?"), merge_seconds=round(time.perf_counter() - started, 3),
            inbox=str(Path(inbox).resolve()) if inbox else None, outbox=str(outbox.resolve()), **counts))
        counts["total_applicants"] = int(conn.execute(select(func.count()).select_from(db.applicants)).scalar())
    counts["withdrawn_in_flight"] = sum(len(ids) for ids in withdrawn.values())
    for folder, ids in withdrawn.items():  # erased while their shard ran: nothing of theirs stays in it
        if ids:
            scrub_shard(folder, ids)
    for folder in map(Path, shard_dirs):  # merged: the face tensors (0.7 MB a segment) and model copy go
        for bulky in ("faces", "model"):
            shutil.rmtree(folder / bulky, ignore_errors=True)
    if write_run_report and counts["applicants_new"]:
        render_selection(url, run_report_path(outbox, run_id), kb, run_id=run_id)
    counts["merge_seconds"] = round(time.perf_counter() - started, 3)
    return counts


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Rows for an insert: the table's columns, NaN as NULL, numpy scalars as Python ones."""
    frame = frame.reindex(columns=columns)
    frame = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in frame.to_dict("records")]


def cached_hashes(conn, paths: list[Path]) -> dict[str, str]:
    """sha256 of each path, re-hashing only files the cache does not know at the same size, mtime and inode."""
    import os

    from sqlalchemy import delete, select

    from sales_ability.results import store as db

    known = {r.path: r for r in conn.execute(select(db.file_hashes))}
    out, fresh = {}, []
    for path in paths:
        st = os.stat(path)
        row = known.get(str(path))
        if row is not None and (row.size, row.mtime_ns, row.inode) == (st.st_size, st.st_mtime_ns, st.st_ino):
            out[str(path)] = row.sha256
            continue
        out[str(path)] = content_hash(path)
        fresh.append({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
                      "sha256": out[str(path)]})
    if fresh:
        conn.execute(delete(db.file_hashes).where(db.file_hashes.c.path.in_([f["path"] for f in fresh])))
        conn.execute(db.file_hashes.insert(), fresh)
    return out


def log_batch_run(counts: dict, outbox: str | Path, run_id: str, tracking: str | None = None,
                  database_url: str | None = None) -> None:
    """One MLflow run per batch, in its own experiment: aggregates only (counts, timings, the distribution of
    the sales scores this run gave, model versions, the batch run's id). No personal data and no faces
    leave the results database: applicants' rows, strips and reports stay where erasure reaches them."""
    import mlflow
    import numpy as np
    from sqlalchemy import select

    from sales_ability.results import store as db

    url = db.database_url(Path(outbox).parent, database_url)
    with db.engine(url).connect() as conn:
        scores = np.array([r.sales_score for r in conn.execute(
            select(db.applicants.c.sales_score).where(db.applicants.c.batch_run_id == run_id))], float)
        versions = sorted({r.model_version for r in conn.execute(
            select(db.applicants.c.model_version).where(db.applicants.c.batch_run_id == run_id).distinct())})
    distribution = {} if not len(scores) else {
        "sales_score_mean": float(scores.mean()), "sales_score_sd": float(scores.std()),
        **{f"sales_score_p{q}": float(np.percentile(scores, q)) for q in (10, 50, 90)}}
    with stage_run("batch_scoring", tags={"airflow_run_id": run_id, "batch_run_id": run_id,
                                          "model_versions": ", ".join(versions) or "-"},
                   tracking=tracking, experiment=BATCH_EXPERIMENT, pipeline=False):
        mlflow.log_metrics(flatten_metrics({**counts, **distribution}))
