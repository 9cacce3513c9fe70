"""Batch scoring of an inbox folder, in shards: the logic behind the ``sales_ability_batch_scoring`` DAG.

The unit is the **applicant**: a folder of ``answer_<n>.<ext>`` recordings (the website's screening mode
publishes one, atomically, when the applicant completes), or a loose video (an applicant of its own).

- **When a folder is scored.** When it is complete: it holds ``complete.json`` (the marker the website
  writes last), or its ``metadata.json`` says ``"status": "complete"`` (a research export). A folder without
  either is waiting and is listed on every run until it completes.
- **Once.** ``outbox/ledger.csv`` records every video that reached an outcome (scored or rejected) with its
  applicant. A folder applicant already in the ledger is never scored again: an answer that arrives after
  scoring is a *late answer*, counted and named in the run's counts (``late``) and left unscored; to score
  the applicant again with it, remove their rows from the outbox ledger. A loose video is known by the
  sha256 of its content (a renamed copy is not scored twice); a loose stem already used by another
  applicant gets ``~<6 hex of its content hash>``.
- **Idempotent.** Each shard's work lands in ``outbox/shards/<shard id>/`` (the id is a hash of its contents,
  so a retried or re-run task finds its own output), and merging appends only applicants the ledger lacks.
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
LEDGER_COLUMNS = ["content_sha256", "source", "outcome", "reason", "applicant_id"]
COMPLETE_MARKER = "complete.json"  # written last into an applicant folder by the website's screening mode


def read_ledger(outbox: Path) -> pd.DataFrame:
    path = Path(outbox) / LEDGER
    if not path.is_file():
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    return pd.read_csv(path, dtype=str, keep_default_na=False).reindex(columns=LEDGER_COLUMNS, fill_value="")


class ScoringConfigError(SalesAbilityError):
    """A folder, knowledge base or model the configuration names does not exist: retrying cannot help."""


def applicant_complete(folder: Path) -> bool:
    """Whether an applicant folder is ready to score (``complete.json``, or a complete research export)."""
    if (folder / COMPLETE_MARKER).is_file():
        return True
    meta = folder / "metadata.json"
    try:
        return meta.is_file() and json.loads(meta.read_text()).get("status") == "complete"
    except (json.JSONDecodeError, AttributeError):
        return False


def list_new_applicants(inbox: str | Path, outbox: str | Path, shard_size: int, missing_ok: bool = False,
                        knowledge_base: str | Path | None = None) -> dict:
    """Shards of inbox applicants not scored yet, and the inbox's state.

    Args:
        shard_size: videos per shard (an applicant's answers stay in one shard).
        missing_ok: a missing inbox means nothing has arrived yet (the default inbox of a fresh install).
        knowledge_base: checked when there is something to score.

    Returns:
        ``{"shards": [{"shard_id", "applicants": [{"applicant_id", "videos": [{"path", "sha256"}]}]}],
        "waiting": [folder names], "late": [applicant ids]}`` (JSON-serialisable for XCom).

    Raises:
        ScoringConfigError: the inbox (unless ``missing_ok``) or the knowledge base does not exist.
    """
    from sales_ability.data.segments import applicant_of, disambiguated

    inbox, outbox = Path(inbox), Path(outbox)
    if not inbox.is_dir():
        if missing_ok:
            return {"shards": [], "waiting": [], "late": []}
        raise ScoringConfigError(f"{inbox}: inbox folder not found")
    ledger = read_ledger(outbox)
    done_hashes = set(ledger["content_sha256"])
    done_applicants = set(ledger["applicant_id"])
    folders: dict[Path, list[Path]] = {}
    loose: list[Path] = []
    for path in find_videos([inbox]):
        if applicant_of(path)[1] is not None:
            folders.setdefault(path.parent, []).append(path)
        else:
            loose.append(path)
    applicants, waiting, late, seen = [], [], [], set()
    for folder, videos in sorted(folders.items()):
        name = folder.name
        if name in done_applicants:
            known = set(ledger.loc[ledger["applicant_id"] == name, "source"])
            if any(str(v) not in known for v in videos):
                late.append(name)
            continue
        if not applicant_complete(folder):
            waiting.append(name)
            continue
        applicants.append({"applicant_id": name, "videos": [{"path": str(v), "sha256": content_hash(v)} for v in videos]})
        seen.add(name)
    for path in loose:
        digest = content_hash(path)
        if digest in done_hashes:
            continue
        done_hashes.add(digest)  # a renamed copy in the same inbox: once
        name = path.stem
        if name in done_applicants or name in seen:
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
            "waiting": waiting, "late": late}


def _shard_id(applicants: list[dict]) -> str:
    digest = hashlib.sha256()
    for a in applicants:
        digest.update(a["applicant_id"].encode())
        for v in a["videos"]:
            digest.update(v["sha256"].encode())
    return digest.hexdigest()[:16]


def shard_videos(shard: dict) -> list[dict]:
    """``[{"path", "sha256", "applicant_id"}]`` of a shard."""
    return [{**v, "applicant_id": a["applicant_id"]} for a in shard["applicants"] for v in a["videos"]]


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
    project = load_params(params_file) if params_file and Path(params_file).is_file() else None
    videos = shard_videos(shard)
    try:
        score_videos([v["path"] for v in videos], folder, load_knowledge_base(kb_file), model_uri,
                     project.featurize if project else None, progress=False, write_report=False,
                     known_hashes={v["path"]: v["sha256"] for v in videos}, tracking=tracking,
                     coverage=project.intervals.coverage if project else 0.9,
                     applicant_ids={v["path"]: v["applicant_id"] for v in videos})
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
    """Append new shard results (segments, applicants, strips, rejects) to the outbox and the ledger; render
    the report; returns counts."""
    from sales_ability.knowledge.rate import load_knowledge_base
    from sales_ability.serving.scoring import (
        RESULT_COLUMNS,
        applicant_columns,
        read_applicants,
        read_strips,
        write_results,
    )

    outbox = Path(outbox)
    kb = load_knowledge_base(kb_file)
    ledger = read_ledger(outbox)
    known = set(ledger["applicant_id"])
    old_results = pd.read_parquet(outbox / "results.parquet") if (outbox / "results.parquet").is_file() else pd.DataFrame(columns=list(RESULT_COLUMNS))
    old_rejects = pd.read_csv(outbox / REJECTS_FILE, dtype=str, keep_default_na=False) if (outbox / REJECTS_FILE).is_file() else pd.DataFrame(columns=list(REJECT_COLUMNS))
    new_results, new_applicants, new_rejects, entries = [], [], [], []
    strips, applicants = [read_strips(outbox)], [read_applicants(outbox)]
    for folder in map(Path, shard_dirs):
        videos = shard_videos(json.loads((folder / "done.json").read_text()))
        fresh_ids = {v["applicant_id"] for v in videos} - known
        if not fresh_ids:
            continue
        known |= fresh_ids
        results = pd.read_parquet(folder / "results.parquet")
        results = results[results["applicant_id"].isin(fresh_ids)]
        new_results.append(results)
        rows = read_applicants(folder)
        new_applicants.append(rows[rows["applicant_id"].isin(fresh_ids)])
        shard_strips = read_strips(folder)
        strips.append(shard_strips[shard_strips["clip_id"].isin(results["clip_id"])])
        rejects = pd.read_csv(folder / REJECTS_FILE, dtype=str, keep_default_na=False)
        new_rejects.append(rejects)
        scored_sources = set(results["source"])
        reasons = rejects.groupby("source")["reason"].first().to_dict() if len(rejects) else {}
        for v in videos:
            if v["applicant_id"] not in fresh_ids:
                continue
            scored = v["path"] in scored_sources
            entries.append({"content_sha256": v["sha256"], "source": v["path"], "outcome": "scored" if scored else "rejected",
                            "reason": "" if scored else reasons.get(v["path"], "no segment could be scored"),
                            "applicant_id": v["applicant_id"]})
    results = pd.concat([old_results, *new_results], ignore_index=True) if new_results else old_results
    rejects = pd.concat([old_rejects, *new_rejects], ignore_index=True).reindex(columns=list(REJECT_COLUMNS))
    all_applicants = pd.concat([a for a in [*applicants, *new_applicants] if len(a)], ignore_index=True) \
        if any(len(a) for a in [*applicants, *new_applicants]) else pd.DataFrame(columns=applicant_columns())
    versions = sorted({str(v) for v in results["model_version"].dropna()}) if len(results) else []
    write_results(results.reindex(columns=list(RESULT_COLUMNS)), rejects, outbox, kb,
                  f"{model_uri} (versions {', '.join(versions) or '-'})", strips=pd.concat(strips, ignore_index=True),
                  applicants=all_applicants)
    # the ledger goes last: a crash before this line makes the next run merge the same shards again
    write_csv_atomic(outbox / LEDGER, pd.concat([ledger, pd.DataFrame(entries, columns=LEDGER_COLUMNS)], ignore_index=True))
    scored_new = sum(len(a) for a in new_applicants)
    return {"applicants_new": scored_new, "segments_new": sum(len(r) for r in new_results),
            "videos_rejected_new": sum(1 for e in entries if e["outcome"] == "rejected"),
            "total_applicants": int(len(all_applicants)), "total_segments": int(len(results)),
            "total_rejected": int(len(rejects))}


def log_batch_run(counts: dict, outbox: str | Path, run_id: str, tracking: str | None = None) -> None:
    """One MLflow run per batch: counts and the outbox files."""
    import mlflow

    from sales_ability.serving.tracking import flatten_metrics, log_files, stage_run

    with stage_run("batch_scoring", tags={"airflow_run_id": run_id}, tracking=tracking):
        mlflow.log_metrics(flatten_metrics(counts))
        outbox = Path(outbox)
        log_files([outbox / "applicants.csv", outbox / "results.csv", outbox / REJECTS_FILE, outbox / "report.html"],
                  artifact_path="outbox")
