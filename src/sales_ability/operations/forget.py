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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import yaml

from sales_ability.collect.storage import REQUESTS_DIR, ParticipantError, ParticipantStore
from sales_ability.data.applicant_folder import PARTICIPANT_ID
from sales_ability.errors import SalesAbilityError
from sales_ability.io_utils import write_json_atomic
from sales_ability.operations.ingest import COLLECTED
from sales_ability.operations.retraining import run_dvc
from sales_ability.registry.tracking import project_tracking_uri
from sales_ability.settings import settings

log = logging.getLogger(__name__)

ERASURES = Path("erasures")  # the records, committed to git (no personal data)
PENDING = ERASURES / ".pending"  # a request in progress: holds the id until it completes (git-ignored)
REPLACED_FILE = ERASURES / "replaced.json"  # old -> new hash of each workspace output an erasure rewrote (no people)
SALT_FILE = ERASURES / ".salt"  # the project's salt when SALES_ABILITY_ERASURE_SALT is unset (git-ignored)
INSPECTED = (".parquet", ".csv", ".json")  # files whose content can name a person (and be rewritten without them)
FLAG_TAG = "erasure.trained_on_erased"  # on MLflow runs, logged models and model versions trained on a forgotten person
DEADLINE_DAYS = 30  # Illinois' AI Video Interview Act: delete within 30 days of the request (GDPR: one month)


class ForgetError(SalesAbilityError):
    """A person cannot be forgotten as asked (named in the message); the request stays pending."""


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
# what the person's id looks like inside a file


def names_person(relpath: tuple[str, ...] | PurePosixPath, person_id: str) -> bool:
    """A path whose folder or file stem is the person's id: their own recording, strip or sheet."""
    parts = relpath.parts if isinstance(relpath, PurePosixPath) else relpath
    return any(part == person_id or part.split(".", 1)[0] == person_id for part in parts)


def holds_person(path: Path, person_id: str, kind: str | None = None) -> bool:
    """Whether a file names the person; ``kind`` is its suffix when the path has none (a DVC object). A Parquet
    file is read (its strings are encoded), any other searched for the id's bytes."""
    if (kind or path.suffix) == ".parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        strings = [f.name for f in schema if str(f.type) in ("string", "large_string")]
        if not strings:
            return False
        table = pq.read_table(path, columns=strings)
        return any(pc.any(pc.match_substring(table[c], person_id)).as_py() for c in strings)
    return person_id.encode() in path.read_bytes()


def _scrub_json(value: object, person_id: str) -> object:
    """``value`` without the person: list items naming them dropped, and in a columnar dict (a calibration set:
    ``participant_id`` beside parallel lists) their positions dropped from every list of the same length."""
    if isinstance(value, dict):
        people = value.get("participant_id")
        if isinstance(people, list) and any(isinstance(p, str) and person_id in p for p in people):
            keep = [i for i, p in enumerate(people) if not (isinstance(p, str) and person_id in p)]
            value = _drop_positions(value, len(people), keep)
        return {k: _scrub_json(v, person_id) for k, v in value.items()
                if not (isinstance(v, str) and person_id in v) and person_id not in str(k)}
    if isinstance(value, list):
        return [_scrub_json(v, person_id) for v in value if not _mentions(v, person_id)]
    return value


def _drop_positions(columns: dict, length: int, keep: list[int]) -> dict:
    out = {}
    for k, v in columns.items():
        if isinstance(v, list) and len(v) == length:
            out[k] = [v[i] for i in keep]
        elif isinstance(v, dict) and all(isinstance(x, list) and len(x) == length for x in v.values()):
            out[k] = {kk: [x[i] for i in keep] for kk, x in v.items()}
        elif k == "n" and v == length:
            out[k] = len(keep)
        else:
            out[k] = v
    return out


def _mentions(value: object, person_id: str) -> bool:
    """A list item naming the person: a string holding the id, or a row (list or flat dict) with such a value."""
    if isinstance(value, str):
        return person_id in value
    if isinstance(value, list):
        return any(isinstance(v, str) and person_id in v for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, str) and person_id in v for v in value.values())
    return False


def rewrite_without(src: Path, dest: Path, person_id: str) -> None:
    """Write ``src`` without the person's rows to ``dest``, in the format ``dest``'s suffix names (``src`` may be
    a DVC object, with no suffix).

    Raises:
        ForgetError: the rewritten file still names them (it is not written).
    """
    kind = dest.suffix
    if kind == ".parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(src).metadata
        compression = meta.row_group(0).column(0).compression.lower() if meta.num_row_groups else "zstd"
        table = pq.read_table(src)
        keep = None
        for f in table.schema:
            if str(f.type) in ("string", "large_string"):
                mask = pc.invert(pc.fill_null(pc.match_substring(table[f.name], person_id), False))
                keep = mask if keep is None else pc.and_(keep, mask)
        pq.write_table(table if keep is None else table.filter(keep), dest,
                       compression=None if compression == "uncompressed" else compression)
    elif kind == ".csv":
        import pandas as pd

        frame = pd.read_csv(src, dtype=str, keep_default_na=False)
        rows = ~frame.apply(lambda col: col.str.contains(person_id, regex=False)).any(axis=1)
        frame[rows].to_csv(dest, index=False)
    elif kind == ".json":
        text = json.dumps(_scrub_json(json.loads(src.read_text()), person_id), indent=2)
        dest.write_text(text + "\n")
    else:
        raise ForgetError(f"{dest.name}: no rewrite for this kind of file")
    if holds_person(dest, person_id):
        dest.unlink()
        raise ForgetError(f"{dest.name}: still names the person after the rewrite; remove it by hand and rerun")


# ---------------------------------------------------------------------------------------------------------------
# DVC: every version, every store


def _git(project: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise ForgetError(f"git {' '.join(args[:2])} failed in {project}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _is_git(project: Path) -> bool:
    return (project / ".git").exists() and bool(_git(project, "rev-parse", "--verify", "-q", "HEAD", check=False).strip())


def _is_dvc_file(path: str) -> bool:
    return path == "dvc.lock" or path.endswith("/dvc.lock") or (path.endswith(".dvc") and not path.startswith(".dvc/"))


def versions(project: Path) -> Iterator[tuple[str, str, dict]]:
    """``(commit, file, parsed)`` for every ``.dvc`` file and ``dvc.lock`` in every commit reachable from any ref,
    then the workspace's (commit ``workspace``); each distinct file content is parsed once."""
    parsed: dict[str, dict] = {}
    if _is_git(project):
        for commit in _git(project, "rev-list", "--all").split():
            for line in _git(project, "ls-tree", "-r", commit).splitlines():
                meta, path = line.split("\t", 1)
                blob = meta.split()[2]
                if _is_dvc_file(path):
                    if blob not in parsed:
                        parsed[blob] = yaml.safe_load(_git(project, "cat-file", "-p", blob)) or {}
                    yield commit, path, parsed[blob]
    for rel in _workspace_dvc_files(project):
        yield "workspace", rel, yaml.safe_load((project / rel).read_text()) or {}


def _workspace_dvc_files(project: Path) -> list[str]:
    """``dvc.lock`` and the ``.dvc`` files of the workspace (hidden folders such as .git, .dvc and .venv skipped)."""
    found = []
    for folder, subfolders, files in os.walk(project):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in ("__pycache__", "node_modules")]
        rel = Path(folder).relative_to(project)
        found += [(rel / f).as_posix() for f in files if _is_dvc_file((rel / f).as_posix())]
    return sorted(found)


def tracked_outs(file: str, content: dict) -> Iterator[dict]:
    """The output entries (``path`` relative to the project, ``md5``) of a ``.dvc`` file or ``dvc.lock``."""
    base = PurePosixPath(file).parent
    if file.endswith(".dvc"):
        entries = content.get("outs") or []
    else:
        entries = [o for stage in (content.get("stages") or {}).values() for o in (stage.get("outs") or [])]
    for entry in entries:
        if entry.get("md5") and entry.get("path"):
            yield entry | {"path": (base / entry["path"]).as_posix()}


class Stores:
    """The local cache and the remotes, read and written through DVC's own object databases, in both layouts
    (DVC 3's ``files/md5/`` and the DVC 2 layout at the root, which DVC 3 still reads and sometimes writes).
    Every remote is listed once at the start: an unreachable one stops the erasure before anything is removed
    (s3fs's ``exists`` answers False for a bucket it cannot reach, which would pass for "nothing there")."""

    def __init__(self, project: Path, remotes: list[str] | None) -> None:
        from dvc.repo import Repo

        self.repo = Repo(str(project))
        self.cache = self.repo.cache.local  # where new objects go
        self.caches = [self.cache, self.repo.cache.legacy]
        names = list(remotes) if remotes is not None else list(self.repo.config.get("remote", {}))
        self.remotes: dict[str, list] = {}
        for name in names:
            self.remotes[name] = self._call(name, "opened", lambda: [
                self.repo.cloud.get_remote_odb(name, "forget", hash_name=h) for h in ("md5", "md5-dos2unix")])
            self._call(name, "listed", lambda: _list_or_absent(self.remotes[name][1]))

    @staticmethod
    def _call(name: str, what: str, action: Callable):
        try:
            return action()
        except Exception as err:  # noqa: BLE001 - DVC and fsspec raise many kinds; the remote is named either way
            raise ForgetError(f"DVC remote {name!r} cannot be {what} ({type(err).__name__}: {str(err)[:300]}); the "
                              "request stays pending: rerun when it answers, or name the remotes to purge with "
                              "--remote") from None

    def local(self, oid: str) -> Path | None:
        """The object in the local cache, fetched from the first remote holding it when the cache lacks it."""
        for cache in self.caches:
            if cache.exists(oid):
                return Path(cache.oid_to_path(oid))
        for name, odbs in self.remotes.items():
            for odb in odbs:
                if self._call(name, "read", lambda: odb.exists(oid)):
                    self._call(name, "read", lambda: self.cache.add(odb.oid_to_path(oid), odb.fs, oid))
                    return Path(self.cache.oid_to_path(oid))
        return None

    def push(self, oids: list[str]) -> int:
        pushed = 0
        for oid in oids:
            for name, (odb, _legacy) in self.remotes.items():
                if not self._call(name, "read", lambda: odb.exists(oid)):
                    self._call(name, "written", lambda: odb.add(self.cache.oid_to_path(oid), self.cache.fs, oid))
                    pushed += 1
        return pushed

    def delete(self, oids: list[str]) -> dict[str, int]:
        counts = {"cache": 0, **{f"remote {n}": 0 for n in self.remotes}}
        for oid in oids:
            for cache in self.caches:
                if cache.exists(oid):
                    cache.delete(oid)
                    counts["cache"] += 1
            for name, odbs in self.remotes.items():
                for odb in odbs:
                    if self._call(name, "read", lambda: odb.exists(oid)):
                        self._call(name, "written", lambda: odb.delete(oid))
                        counts[f"remote {name}"] += 1
        return counts


def _list_or_absent(odb) -> None:
    """List the remote's root (the DVC 2 layout's path): a folder never pushed to is fine, any other failure is
    the remote's."""
    try:
        odb.fs.ls(odb.path)
    except FileNotFoundError:
        pass


@dataclass
class Plan:
    """What the erasure removes and writes, saved before anything is removed (object hashes: pending record only)."""

    delete: list[str] = field(default_factory=list)  # objects holding the person
    new: list[str] = field(default_factory=list)  # objects written in their place (pushed to every remote)
    workspace: dict[str, dict[str, dict]] = field(default_factory=dict)  # file -> out path -> {old, new, changed}
    held: list[str] = field(default_factory=list)  # output hashes that held them (a run naming one trained on them)
    no_longer_reproducible: list[dict] = field(default_factory=list)
    missing: int = 0  # listings no store holds any more (nothing to remove from them)


class _Planner:
    def __init__(self, stores: Stores, person_id: str, scratch: Path) -> None:
        self.stores, self.person_id, self.scratch = stores, person_id, scratch
        self.files: dict[str, str | None] = {}  # oid -> None (kept as is) | the rewritten object's oid
        self.trees: dict[str, dict | None] = {}  # .dir oid -> None (kept as is) | {"new": oid, "changed": [relpath]}
        self.kept: set[str] = set()  # objects another entry still needs (content-addressed: same bytes, one object)
        self.created: set[str] = set()  # objects this plan wrote into the cache
        self.plan = Plan()

    def _add(self, path: str, fs, oid: str) -> None:
        if not self.stores.cache.exists(oid):
            self.created.add(oid)
        self.stores.cache.add(path, fs, oid)

    def drop_unused(self) -> None:
        """Only the workspace's version gets new listings and rewritten files; those made while reading earlier
        versions leave the cache again (they hold everyone else, and no version would name them)."""
        used: set[str] = set()
        for outs in self.plan.workspace.values():
            for change in outs.values():
                if change["new"]:
                    used.add(change["new"])
                    if change["new"].endswith(".dir"):
                        listing = json.loads(Path(self.stores.cache.oid_to_path(change["new"])).read_text())
                        used.update(entry["md5"] for entry in listing)
        for oid in self.created - used:
            self.stores.cache.delete(oid)
        self.plan.new = [oid for oid in self.plan.new if oid in used]

    def file(self, oid: str, name: str) -> str | None:
        if oid not in self.files:
            self.files[oid] = None
            if Path(name).suffix in INSPECTED and (path := self.stores.local(oid)) is not None:
                if holds_person(path, self.person_id, Path(name).suffix):
                    dest = self.scratch / oid / name
                    dest.parent.mkdir(parents=True)
                    rewrite_without(path, dest, self.person_id)
                    new = hashlib.md5(dest.read_bytes()).hexdigest()
                    self._add(str(dest), self.stores.cache.fs, new)
                    self.files[oid] = new
                    self.plan.new.append(new)
                    self.plan.delete.append(oid)
        return self.files[oid]

    def tree(self, oid: str) -> dict | None:
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.meta import Meta
        from dvc_data.hashfile.tree import Tree

        if oid in self.trees:
            return self.trees[oid]
        if (listing := self.stores.local(oid)) is None:
            self.plan.missing += 1
            self.trees[oid] = None
            return None
        old, new, removed = Tree.from_list(json.loads(listing.read_text())), Tree(), []
        for key, meta, info in old:
            if names_person(key, self.person_id):
                removed.append("/".join(key))
                self.plan.delete.append(info.value)
                continue
            replaced = self.file(info.value, key[-1])
            if replaced:
                removed.append("/".join(key))
                new.add(key, Meta(), HashInfo("md5", replaced))
            else:
                self.kept.add(info.value)
                new.add(key, meta, info)
        result = None
        if removed:
            new.digest()
            self._add(new.path, new.fs, new.oid)
            self.plan.new.append(new.oid)
            self.plan.delete.append(oid)
            result = {"new": new.oid, "changed": removed}
        self.trees[oid] = result
        return result

    def out(self, commit: str, file: str, out: dict) -> None:
        md5 = out["md5"]
        if md5.endswith(".dir"):
            change = self.tree(md5)  # a listing's oid ends in .dir, in the stores too
            new = change and change["new"]
        elif names_person(PurePosixPath(out["path"]), self.person_id):
            self.plan.delete.append(md5)
            change, new = {"changed": [out["path"]]}, None
        else:
            replaced = self.file(md5, PurePosixPath(out["path"]).name)
            change, new = (replaced and {"changed": [out["path"]]}), replaced
        if not change:
            self.kept.add(md5)
            return
        self.plan.held.append(md5)
        if commit == "workspace":
            self.plan.workspace.setdefault(file, {})[out["path"]] = {"old": md5, "new": new, "changed": change["changed"]}
        else:
            self.plan.no_longer_reproducible.append({"commit": commit, "file": file, "out": out["path"]})


def plan_erasure(project: Path, stores: Stores, person_id: str, scratch: Path,
                 progress: Callable[[str], None] = lambda _: None) -> Plan:
    """Every object of every version that holds the person, and what replaces it in the workspace's version."""
    planner = _Planner(stores, person_id, scratch)  # each object is read once, however many versions name it
    for commit, file, content in versions(project):
        for out in tracked_outs(file, content):
            planner.out(commit, file, out)
        if commit != "workspace":
            progress(f"read {file} at {commit[:10]}")
    planner.drop_unused()
    plan = planner.plan
    plan.delete = sorted(set(plan.delete) - set(plan.new) - planner.kept)
    plan.new, plan.held = sorted(set(plan.new)), sorted(set(plan.held))
    plan.no_longer_reproducible = [dict(t) for t in sorted({tuple(d.items()) for d in plan.no_longer_reproducible})]
    return plan


def apply_to_workspace(project: Path, stores: Stores, plan: Plan, person_id: str) -> int:
    """The workspace's outputs without the person and its ``.dvc`` files and ``dvc.lock`` naming the new
    listings (outs only: the stages that consumed them stay changed for the next repro). Returns files removed
    or rewritten. Idempotent."""
    touched = 0
    for file, outs in plan.workspace.items():
        for out_path, change in outs.items():
            target = project / out_path
            for rel in change["changed"]:
                path = target / rel if change["old"].endswith(".dir") else target
                touched += _replace_file(path, stores, change, rel)
            if target.is_dir():
                for leftover in [p for p in target.rglob("*") if names_person(p.relative_to(target).parts, person_id)]:
                    shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        _rewrite_dvc_file(project / file, outs, project)
    return touched


def _replace_file(path: Path, stores: Stores, change: dict, rel: str) -> int:
    """The workspace's copy of one changed file: its rewritten object, or nothing when the person's own."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    new_oid = None
    if change["new"] and change["new"].endswith(".dir"):
        tree = Tree.load(stores.cache, HashInfo("md5", change["new"]))
        entry = tree.get(tuple(rel.split("/")))
        new_oid = entry[1].value if entry else None
    elif change["new"]:
        new_oid = change["new"]
    if new_oid is None:
        if path.exists():
            path.unlink()
            return 1
        return 0
    if path.is_file() and hashlib.md5(path.read_bytes()).hexdigest() == new_oid:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.forget")
    shutil.copyfile(stores.cache.oid_to_path(new_oid), tmp)
    os.replace(tmp, path)  # never written in place: the old file may be a link into the cache
    return 1


def _rewrite_dvc_file(path: Path, outs: dict[str, dict], project: Path) -> None:
    content = yaml.safe_load(path.read_text()) or {}
    file = path.relative_to(project).as_posix()
    base = PurePosixPath(file).parent
    if file.endswith(".dvc"):
        entries = content.get("outs") or []
    else:
        entries = [o for stage in (content.get("stages") or {}).values() for o in (stage.get("outs") or [])]
    changed = False
    for entry in entries:
        change = outs.get((base / entry.get("path", "")).as_posix())
        if change and entry.get("md5") == change["old"]:
            changed = True
            entry["md5"] = change["new"] or ""
            target = project / base / entry["path"]
            if target.is_dir():
                files = [p for p in target.rglob("*") if p.is_file()]
                entry.update(size=sum(p.stat().st_size for p in files), nfiles=len(files))
            elif target.is_file():
                entry["size"] = target.stat().st_size
    if changed:
        tmp = path.with_name(f".{path.name}.forget")
        tmp.write_text(yaml.safe_dump(content, sort_keys=False))
        os.replace(tmp, path)


def _drop_run_cache(project: Path, gone: set[str]) -> int:
    """DVC's run cache entries naming a removed object (a repro would try to restore them)."""
    dropped = 0
    runs = project / ".dvc" / "cache" / "runs"
    for entry in [p for p in runs.rglob("*") if p.is_file()] if runs.is_dir() else []:
        text = entry.read_text(errors="replace")
        if any(oid in text for oid in gone):
            entry.unlink()
            dropped += 1
    return dropped


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
            done("delete", dvc_objects_deleted=counts, dvc_run_cache_entries=_drop_run_cache(project, set(plan.delete)))
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
    committed = _commit(project, plan, path, record) if commit and _is_git(project) else None
    return ForgetResult(record, path, committed)


def sweep_unreferenced(project: Path, remotes: list[str]) -> dict[str, int]:
    """``dvc gc`` keeping what any commit, branch, tag, experiment or the workspace names, in the cache and on
    each remote; refused when DVC cannot see one of the workspace's ``.dvc`` files (it would collect its data).

    Raises:
        ForgetError: a ``.dvc`` file DVC does not see, or ``dvc gc`` failed (the request stays pending).
    """
    import re

    from dvc.repo import Repo

    seen = {str(Path(out.fs_path).relative_to(project)) for out in Repo(str(project)).index.outs}
    for file in _workspace_dvc_files(project):
        if file.endswith(".dvc"):
            for out in tracked_outs(file, yaml.safe_load((project / file).read_text()) or {}):
                if out["path"] not in seen:
                    raise ForgetError(f"{file}: DVC does not see it (its ignore matcher takes a .gitignore pattern such "
                                      "as /data/* for the folder itself), so `dvc gc` would delete its data; name each "
                                      "data folder in .gitignore as this project's does, or rerun with --no-sweep")
    keep = ["--workspace", "--all-branches", "--all-tags", "--all-commits", "--all-experiments", "--force"]
    removed = {}
    for where, extra in [("cache", []), *[(f"remote {r}", ["--cloud", "--remote", r]) for r in remotes]]:
        try:
            printed = run_dvc(project, "gc", *keep, *extra, timeout=3600)
        except Exception as err:  # noqa: BLE001 - named, and the request stays pending
            raise ForgetError(f"dvc gc ({where}) failed: {str(err)[-500:]}; rerun, or pass --no-sweep") from None
        # the cache was swept first, so a remote's run removes only the remote's
        removed[where] = sum(int(n) for n in re.findall(r"Removed (\d+) objects? from", printed))
    return removed


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
        return sorted(json.loads(run_dvc(project, "status", "--json", timeout=600) or "{}"))
    except Exception as err:  # noqa: BLE001 - the record says so; the erasure itself is complete
        return [f"unknown ({type(err).__name__})"]


def _commit(project: Path, plan: Plan, record_path: Path, record: ErasureRecord) -> str | None:
    paths = sorted({*plan.workspace, str(record_path.relative_to(project)), str(ERASURES / ".gitignore"),
                    str(REPLACED_FILE)})
    paths = [p for p in paths if (project / p).exists()]
    identity = {"GIT_AUTHOR_NAME": "sales-ability forget", "GIT_AUTHOR_EMAIL": "forget@sales-ability.invalid",
                "GIT_COMMITTER_NAME": "sales-ability forget", "GIT_COMMITTER_EMAIL": "forget@sales-ability.invalid"}
    _git(project, "add", "--", *paths)
    proc = subprocess.run(["git", "commit", "-q", "-m", f"Erasure {record.request}: the data without the person\n\n"
                           "Recorded by sales-ability forget (no personal data in this commit).", "--", *paths],
                          cwd=project, env={**os.environ, **identity}, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        log.warning("erasure %s: not committed (%s); commit %s by hand", record.request, proc.stderr.strip()[-300:],
                    " ".join(paths))
        return None
    return _git(project, "rev-parse", "HEAD").strip()


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

    @property
    def overdue(self) -> bool:
        return self.status != "complete" and self.age_days > DEADLINE_DAYS


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
