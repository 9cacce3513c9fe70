"""Forget a person everywhere the project keeps them: the website, the DVC workspace, every DVC version in the
cache and on the remotes, MLflow's artifacts, the results database; flag the models trained on them.

DVC's cache and remotes are content-addressed and keep every version, so dropping a participant's folder and
running ``dvc add`` leaves their answers (and their crops inside every earlier face-tensor shard) in place.
``forget`` walks every ``.dvc`` file and ``dvc.lock`` of every commit reachable from any ref (branches, tags,
experiments) and of the workspace, and for each DVC object they name:

- a file under a folder (or with a stem) named after the person, their answer: the object is deleted;
- a Parquet, CSV or JSON file that names them (face-tensor shards, manifests, calibration sets, rejects):
  rewritten without their rows, the old object deleted;
- a directory listing holding either: a new listing is written for the workspace's version (so the current
  version still checks out), and the commits that pointed to the old one are recorded as no longer
  reproducible (git history is not rewritten: it holds hashes, not people).

The workspace's ``.dvc`` files and ``dvc.lock`` get the new listings in their ``outs`` only: the stages that
consumed the person (prepare, featurize, train...) keep their old dependency hashes, so ``dvc status`` shows
them changed and the next retraining reproduces them without the person (the retraining DAG skips nothing).

Steps run in order and each is idempotent; the plan (which objects go, what replaces them) is saved before
anything is removed, so an interrupted ``forget`` resumes from its pending record and finishes. The erasure
record kept (``erasures/<request>.json``, committed with the new version) holds no personal data: a salted
hash of the id, counts per store, the versions no longer reproducible, the models flagged, when and by whom.

The versions, the plan and the stores are ``operations/dvc_history.py``; a person inside a file and the file
without them, ``operations/person_rows.py``; this module is the request, MLflow and the record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from sales_ability.collect.storage import REQUESTS_DIR, ParticipantError, ParticipantStore
from sales_ability.data.applicant_folder import PARTICIPANT_ID
from sales_ability.io_utils import write_json_atomic
from sales_ability.operations.dvc_history import (Plan, Stores, apply_to_workspace, drop_run_cache, git, is_git,
                                                  plan_erasure, sweep_unreferenced)
from sales_ability.operations.ingest import COLLECTED
from sales_ability.operations.person_rows import INSPECTED, ForgetError, holds_person, rewrite_without
from sales_ability.operations import retraining
from sales_ability.operations.retraining import stale_stages
from sales_ability.registry.tracking import project_tracking_uri
from sales_ability.settings import settings

log = logging.getLogger(__name__)

ERASURES = Path("erasures")  # the records, committed to git (no personal data)
PENDING = ERASURES / ".pending"  # a request in progress: holds the id until it completes (git-ignored)
REPLACED_FILE = ERASURES / "replaced.json"  # old -> new hash of each workspace output an erasure rewrote (no people)
SALT_FILE = ERASURES / ".salt"  # the project's salt when SALES_ABILITY_ERASURE_SALT is unset (git-ignored)
FLAG_TAG = "erasure.trained_on_erased"  # on MLflow runs, logged models and model versions trained on a forgotten person
DEADLINE_DAYS = 30  # Illinois' AI Video Interview Act: delete within 30 days of the request (GDPR: one month)


@dataclass
class ErasureRecord:
    """What an auditor reads: no id, no object hash; counts per store and when."""

    request: str
    person: str  # HMAC-SHA256 of the id under the project's salt
    requested: str
    requested_by: str
    status: str = "pending"  # pending | complete
    completed: str | None = None
    steps: dict[str, str] = field(default_factory=dict)  # step -> when it finished
    removed: dict[str, object] = field(default_factory=dict)
    no_longer_reproducible: list[dict] = field(default_factory=list)  # commit, file, out
    models_flagged: list[dict] = field(default_factory=list)
    stale_stages: list[str] = field(default_factory=list)  # what the next retraining reproduces without them


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def erasure_salt(project: Path) -> str:
    """``SALES_ABILITY_ERASURE_SALT``, else the project's own (made once, git-ignored, never leaves the machine)."""
    if configured := settings().erasure_salt:
        return configured.get_secret_value()
    path = project / SALT_FILE
    if not path.is_file():
        _ignore_private_files(project)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def person_hash(salt: str, person_id: str) -> str:
    return hmac.new(salt.encode(), person_id.encode(), hashlib.sha256).hexdigest()


def _ignore_private_files(project: Path) -> None:
    (project / ERASURES).mkdir(exist_ok=True)
    gitignore = project / ERASURES / ".gitignore"
    if not gitignore.is_file():
        gitignore.write_text("# the salt and the requests in progress (they hold the id) never reach git\n.salt\n.pending/\n")


# ---------------------------------------------------------------------------------------------------------------
# MLflow


def scrub_mlflow(tracking_uri: str, person_id: str, held: set[str], request: str) -> dict:
    """Rewrite every run's and logged model's artifacts that name the person (calibration sets, predictions,
    input examples); flag the runs whose ``dvc.*`` tags name data that held them, their logged models and
    registered versions."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    counts, flagged_runs, flagged = {"rewritten": 0, "deleted": 0}, set(), []
    for experiment in client.search_experiments(view_type=ViewType.ALL):
        token = None
        while True:
            runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=500,
                                      page_token=token)
            for run in runs:
                _scrub_artifacts(run.info.artifact_uri, person_id, counts)
                if any(k.startswith("dvc.") and v in held for k, v in run.data.tags.items()):
                    flagged_runs.add(run.info.run_id)
                    client.set_tag(run.info.run_id, FLAG_TAG, _with(run.data.tags.get(FLAG_TAG), request))
                    flagged.append({"run": run.info.run_id, "experiment": experiment.name})
            token = runs.token
            if not token:
                break
        for model in _logged_models(client, experiment.experiment_id):
            _scrub_artifacts(model.artifact_location, person_id, counts)
            if model.source_run_id in flagged_runs:
                client.set_logged_model_tags(model.model_id, {FLAG_TAG: _with(model.tags.get(FLAG_TAG), request)})
    for version in client.search_model_versions():
        if version.run_id in flagged_runs:
            client.set_model_version_tag(version.name, version.version, FLAG_TAG,
                                         _with(version.tags.get(FLAG_TAG), request))
            flagged.append({"registered": f"{version.name}/{version.version}", "run": version.run_id,
                            "aliases": list(version.aliases or [])})
    return {"artifacts": counts, "flagged": flagged}


def _with(requests: str | None, request: str) -> str:
    """A flag's value: every erasure request that found the run trained on its person, comma-separated."""
    known = [r for r in (requests or "").split(",") if r]
    return ",".join(known if request in known else [*known, request])


def trained_on(held: set[str], replaced: dict[str, str]) -> set[str]:
    """The data hashes a run trained on the person may name: those that held them, and every earlier version an
    erasure rewrote into one of them (its listing is gone, so only ``erasures/replaced.json`` still links it)."""
    out, grew = set(held), True
    while grew:
        grew = False
        for old, new in replaced.items():
            if new in out and old not in out:
                out.add(old)
                grew = True
    return out


def _logged_models(client, experiment_id: str) -> list:
    models, token = [], None
    while True:
        page = client.search_logged_models(experiment_ids=[experiment_id], max_results=100, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            return models


def _scrub_artifacts(uri: str, person_id: str, counts: dict) -> None:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(uri)
    with tempfile.TemporaryDirectory(prefix="forget-mlflow-") as tmp:
        for info in _artifact_files(repo, None):
            if Path(info.path).suffix not in (*INSPECTED, ".txt", ".md", ".yaml", ".yml", ".html", ".jsonl"):
                continue
            local = Path(repo.download_artifacts(info.path, dst_path=tmp))
            if not holds_person(local, person_id):
                continue
            parent = str(PurePosixPath(info.path).parent)
            parent = None if parent == "." else parent
            if local.suffix in INSPECTED:
                clean = Path(tmp) / "clean" / local.name
                clean.parent.mkdir(exist_ok=True)
                rewrite_without(local, clean, person_id)
                repo.log_artifact(str(clean), parent)
                counts["rewritten"] += 1
            else:  # a report or note naming them: no rows to drop, the file goes
                repo.delete_artifacts(info.path)
                counts["deleted"] += 1


def _artifact_files(repo, path: str | None) -> Iterator:
    for info in repo.list_artifacts(path):
        if info.is_dir:
            yield from _artifact_files(repo, info.path)
        else:
            yield info


# ---------------------------------------------------------------------------------------------------------------
# the request


def _pending_path(project: Path, request: str) -> Path:
    return project / PENDING / f"{request}.json"


def _find_pending(project: Path, person_id: str) -> dict | None:
    for path in sorted((project / PENDING).glob("*.json")):
        state = json.loads(path.read_text())
        if state.get("person_id") == person_id:
            return state
    return None


def _save(project: Path, state: dict) -> None:
    _ignore_private_files(project)
    (project / PENDING).mkdir(parents=True, exist_ok=True)
    write_json_atomic(_pending_path(project, state["record"]["request"]), state)


@dataclass
class ForgetResult:
    record: ErasureRecord
    path: Path  # the erasure record
    committed: str | None  # the git commit holding the new version and the record


def forget(person_id: str, project: str | Path = ".", website_data: str | Path | None = None,
           remotes: list[str] | None = None, tracking_uri: str | None = None, results_db: str | None = None,
           requested_by: str = "cli", requested: str | None = None, commit: bool = True, sweep: bool = True,
           progress: Callable[[str], None] = lambda _: None) -> ForgetResult:
    """Forget ``person_id`` everywhere the project keeps them (see the module's docstring); resumes a pending
    request for the same person.

    Args:
        person_id: a participant's or applicant's id (the website's 16-character id).
        project: the DVC project.
        website_data: the website's data folder (``collect serve --data-dir``), whose copy goes too.
        remotes: the DVC remotes to purge (default: every remote the project configures; each must be reachable).
        tracking_uri: the MLflow store (default: the project's).
        results_db: the results database's URL; the applicant's rows go too (default: the project's, if any).
        requested_by: who asked (``cli``, ``website``...), kept in the record.
        requested: when the request was made (the website's withdrawal), else now.
        commit: commit the new version's ``.dvc`` files, ``dvc.lock`` and the record on the current branch.
        sweep: ``dvc gc`` of every object no version names, in the cache and on the purged remotes (outputs of
            runs never committed hold everyone of their time, and no version leads to them).

    Raises:
        ForgetError: a malformed id, a project that is not a DVC project, an unreachable remote (nothing removed
            there; rerun), or a file that cannot be rewritten without them.
    """
    project = Path(project).resolve()
    if not PARTICIPANT_ID.fullmatch(person_id or ""):
        # the website's ids are 16 random characters, so a file naming one names that person; an applicant scored
        # from a loose video or folder is not in any DVC version: `applicants delete` forgets them
        raise ForgetError(f"{person_id!r}: not a website participant's or applicant's id (16 letters, digits, - or "
                          "_); for an applicant scored from a loose video or folder, use `sales-ability applicants "
                          "delete ID`")
    if not (project / ".dvc").is_dir():
        raise ForgetError(f"{project / '.dvc'}: not found; the project must be a DVC project")
    state = _find_pending(project, person_id)
    if state is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d")
        record = ErasureRecord(f"E-{stamp}-{secrets.token_hex(4)}", person_hash(erasure_salt(project), person_id),
                               requested or _now(), requested_by)
        state = {"person_id": person_id, "record": record.__dict__, "plan": None}
        _save(project, state)
    else:
        progress(f"resuming {state['record']['request']} (done: {', '.join(state['record']['steps']) or 'nothing'})")
    record = ErasureRecord(**state["record"])
    stores = Stores(project, remotes)

    def done(step: str, **removed: object) -> None:
        record.steps[step] = _now()
        record.removed.update(removed)
        state["record"] = record.__dict__
        _save(project, state)
        progress(f"{step}: done")

    with tempfile.TemporaryDirectory(prefix="forget-") as scratch:
        if state["plan"] is None:
            plan = plan_erasure(project, stores, person_id, Path(scratch), progress)
            state["plan"] = plan.__dict__
            record.no_longer_reproducible = plan.no_longer_reproducible
            replaced = _replaced(project)
            replaced.update({c["old"]: c["new"] for outs in plan.workspace.values() for c in outs.values() if c["new"]})
            write_json_atomic(project / REPLACED_FILE, replaced)
            done("plan", dvc_objects_holding_them=len(plan.delete), dvc_listings_missing=plan.missing)
        plan = Plan(**state["plan"])
        if "website" not in record.steps:
            done("website", website=_forget_on_website(website_data, person_id, project))
        if "workspace" not in record.steps:
            done("workspace", workspace_files=apply_to_workspace(project, stores, plan, person_id))
        if "push" not in record.steps:
            done("push", new_objects_pushed=stores.push(plan.new))
        if "mlflow" not in record.steps:
            found = scrub_mlflow(tracking_uri or project_tracking_uri(project), person_id,
                                 trained_on(set(plan.held), _replaced(project)), record.request)
            record.models_flagged = found["flagged"]
            done("mlflow", mlflow_artifacts=found["artifacts"])
        if "results" not in record.steps:
            done("results", results_database=_forget_in_results(project, person_id, results_db))
        if "delete" not in record.steps:
            counts = stores.delete(plan.delete)
            done("delete", dvc_objects_deleted=counts, dvc_run_cache_entries=drop_run_cache(project, set(plan.delete)))
        if "sweep" not in record.steps:
            done("sweep", unreferenced_objects_removed=sweep_unreferenced(project, list(stores.remotes)) if sweep
                 else "skipped (--no-sweep)")
    record.stale_stages = _stale_stages(project)
    record.status, record.completed = "complete", _now()
    path = project / ERASURES / f"{record.request}.json"
    write_json_atomic(path, record.__dict__)  # the record: no id, no hashes of their objects
    _pending_path(project, record.request).unlink(missing_ok=True)
    if website_data is not None:
        (Path(website_data) / REQUESTS_DIR / f"{person_id}.json").unlink(missing_ok=True)
    committed = _commit(project, plan, path, record) if commit and is_git(project) else None
    return ForgetResult(record, path, committed)


def _replaced(project: Path) -> dict[str, str]:
    path = project / REPLACED_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _forget_on_website(website_data: str | Path | None, person_id: str, project: Path) -> str:
    if website_data is None:
        return "not given"
    try:
        ParticipantStore(website_data).delete(person_id, export_dir=project / COLLECTED)
    except ParticipantError as err:
        if err.status != 404:
            raise
        return "already gone"
    return "removed"


def _forget_in_results(project: Path, person_id: str, url: str | None) -> str:
    from sales_ability.results.erasure import UnknownApplicant, erase_applicant
    from sales_ability.results.store import DEFAULT_DB_FILE, database_url

    if url is None and settings().database_url is None and not (project / DEFAULT_DB_FILE).is_file():
        return "no results database"
    try:
        done = erase_applicant(person_id, database_url(project, url), request="forget")
    except UnknownApplicant:
        return "not held"
    return f"removed {sum(v for v in done.removed().values() if isinstance(v, int))} items"


def _stale_stages(project: Path) -> list[str]:
    try:
        return stale_stages(project)
    except Exception as err:  # noqa: BLE001 - the record says so; the erasure itself is complete
        return [f"unknown ({type(err).__name__})"]


def _commit(project: Path, plan: Plan, record_path: Path, record: ErasureRecord) -> str | None:
    paths = sorted({*plan.workspace, str(record_path.relative_to(project)), str(ERASURES / ".gitignore"),
                    str(REPLACED_FILE)})
    paths = [p for p in paths if (project / p).exists()]
    git(project, "add", "--", *paths)
    try:
        retraining.git(project, "commit", "-q", "-m", f"Erasure {record.request}: the data without the person\n\n"
                       "Recorded by sales-ability forget (no personal data in this commit).", "--", *paths,
                       env=retraining.git_identity("forget"))
    except RuntimeError as err:
        log.warning("erasure %s: not committed (%s); commit %s by hand", record.request, str(err)[-300:],
                    " ".join(paths))
        return None
    return git(project, "rev-parse", "HEAD")


# ---------------------------------------------------------------------------------------------------------------
# the website's requests and the deadline


def forget_requested(website_data: str | Path, project: str | Path, **kwargs) -> list[ForgetResult]:
    """Complete every withdrawal the website recorded (oldest first)."""
    requests = sorted((Path(website_data) / REQUESTS_DIR).glob("*.json"))
    results = []
    for path in requests:
        request = json.loads(path.read_text())
        results.append(forget(request["participant_id"], project, website_data, requested_by="website",
                              requested=request["requested"], **kwargs))
    return results


@dataclass(frozen=True)
class ErasureStatus:
    request: str
    person: str  # the salted hash's first 12 characters
    requested: str
    status: str  # complete | pending | waiting (recorded by the website, not started)
    age_days: float
    completed: str | None = None

    def overdue_after(self, days: float) -> bool:
        return self.status != "complete" and self.age_days > days

    @property
    def overdue(self) -> bool:
        return self.overdue_after(DEADLINE_DAYS)


def erasure_status(project: str | Path, website_data: str | Path | None = None) -> list[ErasureStatus]:
    """Every request: complete records, pending ones and the website's not yet started, with their age."""
    project = Path(project)
    now, out = datetime.now(timezone.utc), []

    def age(when: str) -> float:
        return round((now - datetime.fromisoformat(when)).total_seconds() / 86400, 2)

    for path in sorted((project / ERASURES).glob("E-*.json")):
        r = json.loads(path.read_text())
        out.append(ErasureStatus(r["request"], r["person"][:12], r["requested"], r["status"], age(r["requested"]),
                                 r.get("completed")))
    for path in sorted((project / PENDING).glob("*.json")):
        r = json.loads(path.read_text())["record"]
        out.append(ErasureStatus(r["request"], r["person"][:12], r["requested"], "pending", age(r["requested"])))
    if website_data is not None:
        salt = erasure_salt(project)
        for path in sorted((Path(website_data) / REQUESTS_DIR).glob("*.json")):
            r = json.loads(path.read_text())
            out.append(ErasureStatus("-", person_hash(salt, r["participant_id"])[:12], r["requested"], "waiting",
                                     age(r["requested"])))
    return out
