"""Batch scoring of an inbox folder, in shards: the logic behind the ``sales_ability_batch_scoring`` DAG.

Idempotence: every video is known by the sha256 of its bytes. ``outbox/ledger.csv`` records each hash
that reached an outcome (scored or rejected); listing skips those and collapses renamed copies, each
shard's work lands in ``outbox/shards/<shard id>/`` (the id is a hash of its contents, so a retried or
re-run task finds its own output), and merging appends only hashes the ledger lacks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from sales_ability.data.datasets import find_videos
from sales_ability.data.face_tensors import REJECT_COLUMNS, REJECTS_FILE
from sales_ability.errors import ConfigError, ModelError, SalesAbilityError
from sales_ability.io_utils import content_hash, write_csv_atomic

LEDGER = "ledger.csv"
LEDGER_COLUMNS = ["content_sha256", "source", "outcome", "reason", "clip_id"]


def read_ledger(outbox: Path) -> pd.DataFrame:
    path = Path(outbox) / LEDGER
    if not path.is_file():
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


class ScoringConfigError(SalesAbilityError):
    """A folder, knowledge base or model the configuration names does not exist: retrying cannot help."""


def list_new_videos(inbox: str | Path, outbox: str | Path, shard_size: int, missing_ok: bool = False,
                    knowledge_base: str | Path | None = None) -> list[dict]:
    """Shards of inbox videos whose content was never scored or rejected (one copy per content).

    Args:
        missing_ok: a missing inbox means nothing has arrived yet (the default inbox of a fresh install).
        knowledge_base: checked when there is something to score.

    Returns:
        ``[{"shard_id": ..., "videos": [{"path", "sha256"}, ...]}, ...]`` (JSON-serialisable for XCom).

    Raises:
        ScoringConfigError: the inbox (unless ``missing_ok``) or the knowledge base does not exist.
    """
    inbox, outbox = Path(inbox), Path(outbox)
    if not inbox.is_dir():
        if missing_ok:
            return []
        raise ScoringConfigError(f"{inbox}: inbox folder not found")
    done = set(read_ledger(outbox)["content_sha256"])
    seen: set[str] = set()
    new = []
    for path in find_videos([inbox]):
        digest = content_hash(path)
        if digest in done or digest in seen:
            continue
        seen.add(digest)
        new.append({"path": str(path), "sha256": digest})
    if new and knowledge_base is not None and not Path(knowledge_base).is_file():
        raise ScoringConfigError(f"{knowledge_base}: knowledge base not found (run `make demo`, or pass knowledge_base)")
    shards = []
    for i in range(0, len(new), shard_size):
        videos = new[i : i + shard_size]
        shard_id = hashlib.sha256("".join(v["sha256"] for v in videos).encode()).hexdigest()[:16]
        shards.append({"shard_id": shard_id, "videos": videos})
    return shards


def score_shard(shard: dict, outbox: str | Path, kb_file: str | Path, model_uri: str, params_file: str | Path | None = None,
                tracking: str | None = None) -> str:
    """Featurize and score one shard into ``outbox/shards/<shard_id>``; returns that folder.

    The model is resolved before anything is featurized; the featurize settings are the model's own, and
    ``params_file``'s (when it exists) must agree with them.

    Raises:
        ScoringConfigError: no such model, or featurize settings that differ from the model's training.
    """
    from sales_ability.config import load_params
    from sales_ability.knowledge.rate import load_knowledge_base
    from sales_ability.serving.scoring import score_videos

    folder = Path(outbox) / "shards" / shard["shard_id"]
    if (folder / "done.json").is_file():  # a retry or re-run of a finished shard
        return str(folder)
    explicit = load_params(params_file).featurize if params_file and Path(params_file).is_file() else None
    try:
        score_videos([v["path"] for v in shard["videos"]], folder, load_knowledge_base(kb_file), model_uri,
                     explicit, progress=False, write_report=False,
                     known_hashes={v["path"]: v["sha256"] for v in shard["videos"]}, tracking=tracking)
    except ModelError as err:  # a configuration error: retrying cannot help
        raise ScoringConfigError(str(err)) from None
    (folder / "done.json").write_text(json.dumps(shard))
    return str(folder)


def batch_model_uri(model_uri: str, project: str | Path) -> str:
    """``model_uri``, or when it is empty the champion of the project's ``registry.model_name``.

    Raises:
        ScoringConfigError: the project's params.yaml is not valid.
    """
    if model_uri:
        return model_uri
    from sales_ability.serving.registry import champion_uri, project_model_name

    try:
        return champion_uri(project_model_name(project))
    except ConfigError as err:
        raise ScoringConfigError(str(err)) from None


def merge_shards(shard_dirs: list[str], outbox: str | Path, kb_file: str | Path, model_uri: str) -> dict:
    """Append new shard results to the outbox (Parquet, CSV, report) and the ledger; returns counts."""
    from sales_ability.knowledge.rate import load_knowledge_base
    from sales_ability.serving.scoring import RESULT_COLUMNS, read_strips, write_results

    outbox = Path(outbox)
    kb = load_knowledge_base(kb_file)
    ledger = read_ledger(outbox)
    known = set(ledger["content_sha256"])
    old_results = pd.read_parquet(outbox / "results.parquet") if (outbox / "results.parquet").is_file() else pd.DataFrame(columns=list(RESULT_COLUMNS))
    old_rejects = pd.read_csv(outbox / REJECTS_FILE, dtype=str, keep_default_na=False) if (outbox / REJECTS_FILE).is_file() else pd.DataFrame(columns=list(REJECT_COLUMNS))
    new_results, new_rejects, entries, strips = [], [], [], [read_strips(outbox)]
    for folder in map(Path, shard_dirs):
        listed = {v["path"]: v["sha256"] for v in json.loads((folder / "done.json").read_text())["videos"]}
        results = pd.read_parquet(folder / "results.parquet")
        rejects = pd.read_csv(folder / REJECTS_FILE, dtype=str, keep_default_na=False)
        fresh = results[~results["content_sha256"].isin(known)]
        new_results.append(fresh)
        shard_strips = read_strips(folder)
        strips.append(shard_strips[shard_strips["content_sha256"].isin(fresh["content_sha256"])])
        entries += [{"content_sha256": r.content_sha256, "source": r.source, "outcome": "scored", "reason": "", "clip_id": r.clip_id}
                     for r in fresh.itertuples()]
        known.update(fresh["content_sha256"])
        for r in rejects.itertuples():
            digest = listed.get(r.source) or (content_hash(r.source) if Path(r.source).is_file()
                                              else hashlib.sha256(r.source.encode()).hexdigest())
            if digest in known:
                continue
            known.add(digest)
            new_rejects.append({"source": r.source, "reason": r.reason, "clip_id": r.clip_id})
            entries.append({"content_sha256": digest, "source": r.source, "outcome": "rejected", "reason": r.reason, "clip_id": r.clip_id})
    results = pd.concat([old_results, *new_results], ignore_index=True) if new_results else old_results
    rejects = pd.concat([old_rejects, pd.DataFrame(new_rejects, columns=list(REJECT_COLUMNS))], ignore_index=True)
    versions = sorted({str(v) for v in results["model_version"].dropna()}) if len(results) else []
    write_results(results.reindex(columns=list(RESULT_COLUMNS)), rejects, outbox, kb,
                  f"{model_uri} (versions {', '.join(versions) or '-'})", strips=pd.concat(strips, ignore_index=True))
    # the ledger goes last: a crash before this line makes the next run merge the same shards again
    write_csv_atomic(outbox / LEDGER, pd.concat([ledger, pd.DataFrame(entries, columns=LEDGER_COLUMNS)], ignore_index=True))
    added = sum(len(f) for f in new_results)
    return {"scored_new": added, "rejected_new": len(new_rejects), "total_scored": int(len(results)), "total_rejected": int(len(rejects))}


def log_batch_run(counts: dict, outbox: str | Path, run_id: str, tracking: str | None = None) -> None:
    """One MLflow run per batch: counts and the outbox files."""
    import mlflow

    from sales_ability.serving.tracking import flatten_metrics, log_files, stage_run

    with stage_run("batch_scoring", tags={"airflow_run_id": run_id}, tracking=tracking):
        mlflow.log_metrics(flatten_metrics(counts))
        outbox = Path(outbox)
        log_files([outbox / "results.csv", outbox / REJECTS_FILE, outbox / "report.html"], artifact_path="outbox")
