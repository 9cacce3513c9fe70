"""Every version DVC keeps, and the person's objects out of each: the plan, the workspace's new version, the sweep.

``versions`` reads every ``.dvc`` file and ``dvc.lock`` of every commit reachable from any ref and of the
workspace; ``plan_erasure`` finds each object holding the person (their own files, and shards, manifests and
calibration sets naming them, which it rewrites without them), ``apply_to_workspace`` gives the current version
the new listings, ``Stores`` deletes from the cache and the remotes in both layouts, and ``sweep_unreferenced``
runs ``dvc gc`` over every version. The flow around them is ``sales_ability.operations.forget``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from sales_ability.operations.person_rows import INSPECTED, ForgetError, holds_person, names_person, rewrite_without
from sales_ability.operations import retraining
from sales_ability.operations.retraining import run_dvc


def git(project: Path, *args: str) -> str:
    """``retraining.git`` with its failure as the erasure's (the request stays pending, the message names it)."""
    try:
        return retraining.git(project, *args)
    except RuntimeError as err:
        raise ForgetError(str(err)[-600:]) from None


def is_git(project: Path) -> bool:
    """A git checkout with at least one commit (the versions to walk)."""
    try:
        return (project / ".git").exists() and bool(retraining.git(project, "rev-parse", "--verify", "-q", "HEAD"))
    except RuntimeError:
        return False


def _is_dvc_file(path: str) -> bool:
    return path == "dvc.lock" or path.endswith("/dvc.lock") or (path.endswith(".dvc") and not path.startswith(".dvc/"))


def versions(project: Path) -> Iterator[tuple[str, str, dict]]:
    """``(commit, file, parsed)`` for every ``.dvc`` file and ``dvc.lock`` in every commit reachable from any ref,
    then the workspace's (commit ``workspace``); each distinct file content is parsed once."""
    parsed: dict[str, dict] = {}
    if is_git(project):
        for commit in git(project, "rev-list", "--all").split():
            for line in git(project, "ls-tree", "-r", commit).splitlines():
                meta, path = line.split("\t", 1)
                blob = meta.split()[2]
                if _is_dvc_file(path):
                    if blob not in parsed:
                        parsed[blob] = yaml.safe_load(git(project, "cat-file", "-p", blob)) or {}
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


def _out_entries(file: str, content: dict) -> list[dict]:
    """The ``outs`` entries of a parsed ``.dvc`` file or ``dvc.lock`` as they stand in it (paths relative to it)."""
    if file.endswith(".dvc"):
        return content.get("outs") or []
    return [o for stage in (content.get("stages") or {}).values() for o in (stage.get("outs") or [])]


def tracked_outs(file: str, content: dict) -> Iterator[dict]:
    """The output entries (``path`` relative to the project, ``md5``) of a ``.dvc`` file or ``dvc.lock``."""
    base = PurePosixPath(file).parent
    for entry in _out_entries(file, content):
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
    changed = False
    for entry in _out_entries(file, content):  # edited in place, then the whole file written back
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


def drop_run_cache(project: Path, gone: set[str]) -> int:
    """DVC's run cache entries naming a removed object (a repro would try to restore them)."""
    dropped = 0
    runs = project / ".dvc" / "cache" / "runs"
    for entry in [p for p in runs.rglob("*") if p.is_file()] if runs.is_dir() else []:
        text = entry.read_text(errors="replace")
        if any(oid in text for oid in gone):
            entry.unlink()
            dropped += 1
    return dropped


def sweep_unreferenced(project: Path, remotes: list[str]) -> dict[str, int]:
    """``dvc gc`` keeping what any commit, branch, tag, experiment or the workspace names, in the cache and on
    each remote; refused when DVC cannot see one of the workspace's ``.dvc`` files (it would collect its data).

    Raises:
        ForgetError: a ``.dvc`` file DVC does not see, or ``dvc gc`` failed (the request stays pending).
    """
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
