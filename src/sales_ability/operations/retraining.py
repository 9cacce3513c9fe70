"""The retraining side as the ``sales_ability_retraining`` DAG runs it: pull, ``dvc repro``, promotion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sales_ability.config import load_params
from sales_ability.errors import SalesAbilityError
from sales_ability.operations.promotion import CANDIDATE_FILE, decide, propose
from sales_ability.registry.tracking import project_tracking_uri
from sales_ability.settings import settings


class RetrainingConfigError(SalesAbilityError):
    """The project folder, its ``dvc.yaml`` or the named DVC remote does not exist: retrying cannot help."""


def check_project(project: str | Path) -> Path:
    """The project folder, once it is known to hold a DVC pipeline.

    Raises:
        RetrainingConfigError: the folder or its ``dvc.yaml`` is missing.
    """
    project = Path(project)
    if not project.is_dir():
        raise RetrainingConfigError(f"{project}: project folder not found (set the project_dir param)")
    if not (project / "dvc.yaml").is_file():
        raise RetrainingConfigError(f"{project / 'dvc.yaml'}: not found; project_dir must name the sales-ability checkout")
    return project


def _env(project: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "MLFLOW_TRACKING_URI": project_tracking_uri(project)}


def run_dvc(project: str | Path, *args: str, timeout: float = 6 * 3600) -> str:
    """Run ``dvc ARGS`` in the project folder; raise with its output when it fails."""
    project = Path(project)
    proc = subprocess.run(["dvc", *args], cwd=project, env=_env(project), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed in {project}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def stale_stages(project: str | Path) -> list[str]:
    """The stages (and ``.dvc`` files) whose code, params or data ``dvc status`` finds changed since ``dvc.lock``."""
    return sorted(json.loads(run_dvc(project, "status", "--json", timeout=3600) or "{}"))


def pipeline_up_to_date(project: str | Path) -> bool:
    """``dvc status`` finds every stage's code, params and data as recorded in ``dvc.lock``."""
    return not stale_stages(project)


REMOTE_ENV = "SALES_ABILITY_DVC_REMOTE"


def pull_remote(project: str | Path) -> str | None:
    """The DVC remote to pull from before a repro: ``$SALES_ABILITY_DVC_REMOTE`` (set in docker/), else None.

    A remote named in ``.dvc/config`` is not pulled from unless chosen here, so a laptop without an S3
    store trains on its workspace data.

    Raises:
        RetrainingConfigError: the variable names a remote the project's DVC config does not define.
    """
    remote = settings().dvc_remote
    if remote is not None:
        known = [line.split()[0] for line in run_dvc(project, "remote", "list").splitlines() if line.strip()]
        if remote not in known:
            raise RetrainingConfigError(f"{REMOTE_ENV}={remote}: no such DVC remote in {Path(project) / '.dvc/config'} "
                                        f"(known: {', '.join(known) or 'none'})")
    return remote


class NothingToRecord(SalesAbilityError):
    """The project is not a git checkout, or the run changed nothing git versions."""


BRANCH_PREFIX = "retraining/"


def git_identity(name: str) -> dict[str, str]:
    """The author and committer of a commit the system makes itself (``sales-ability <name>``)."""
    email = f"{name.replace(' ', '-')}@sales-ability.invalid"
    return {"GIT_AUTHOR_NAME": f"sales-ability {name}", "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": f"sales-ability {name}", "GIT_COMMITTER_EMAIL": email}


def git(project: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=project, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {project}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


def git_versioned_outputs(project: Path) -> list[str]:
    """``dvc.lock`` and the outputs DVC leaves to git (``cache: false``), plus the ``.gitignore`` files DVC
    writes for its cached outputs, and the raw datasets' ``.dvc`` files (the ingest's new version of the
    collected data): what a retraining changes in git."""
    import yaml

    stages = (yaml.safe_load((project / "dvc.yaml").read_text()) or {}).get("stages", {})
    paths = {"dvc.lock"}
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                path, options = (next(iter(entry.items())) if isinstance(entry, dict) else (entry, {}))
                if (options or {}).get("cache") is False:
                    paths.add(path)
                else:  # DVC git-ignores a cached output in its folder's .gitignore
                    paths.add(str(Path(path).parent / ".gitignore"))
    paths.update(str(p.relative_to(project)) for p in (project / "data/raw").glob("*.dvc"))
    return sorted(p for p in paths if (project / p).exists())


def record_outputs(project: str | Path, run_id: str) -> dict:
    """Commit ``dvc.lock`` and the git-versioned outputs on ``retraining/<run id>``, branching from HEAD,
    without touching the checkout (its own index and files stay as they are); push the branch to
    ``$SALES_ABILITY_GIT_REMOTE`` when set.

    Returns:
        ``{"branch", "commit", "files"}``.

    Raises:
        NothingToRecord: not a git checkout, or nothing git versions changed.
    """
    import re
    import tempfile

    project = Path(project)
    if _git_ok(project) is False:
        raise NothingToRecord(f"{project}: not a git checkout; dvc.lock stays in the workspace")
    branch = BRANCH_PREFIX + re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")
    files = git_versioned_outputs(project)
    with tempfile.TemporaryDirectory(prefix="retraining-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(project, "read-tree", "HEAD", env=index)
        git(project, "add", "--", *files, env=index)
        tree = git(project, "write-tree", env=index)
    if tree == git(project, "rev-parse", "HEAD^{tree}"):
        raise NothingToRecord(f"{', '.join(files)}: unchanged since HEAD; nothing to record")
    identity = git_identity("retraining")
    commit = git(project, "commit-tree", tree, "-p", "HEAD", "-m",
                  f"Retraining {run_id}: dvc.lock, metrics and the ingested data's version\n\n"
                  "Recorded by the sales_ability_retraining DAG.", env=identity)
    git(project, "update-ref", f"refs/heads/{branch}", commit)
    if remote := settings().git_remote:
        git(project, "push", remote, f"{branch}:{branch}")
    return {"branch": branch, "commit": commit, "files": files, "pushed_to": remote or None}


def _git_ok(project: Path) -> bool:
    try:
        return git(project, "rev-parse", "--is-inside-work-tree") == "true"
    except (RuntimeError, OSError):
        return False


def propose_in_project(project: str | Path) -> dict:
    """``promotion.propose`` on a project folder: its candidate, its fine-tuning manifest's selection people,
    its params; ``reports/promotion/`` for the comparison.

    Raises:
        promotion.AlreadyDecided: the candidate's version already carries a person's decision.
    """
    project = Path(project)
    params = load_params(project / "params.yaml")
    tracking = project_tracking_uri(project)
    return propose(project / "models" / CANDIDATE_FILE, project / "data/manifests/finetune.csv",
                   params.intervals.coverage, params.registry.coverage_tolerance, project / "reports/promotion", tracking,
                   root=project)


def decide_in_project(project: str | Path, proposal: dict, answer: dict | None, timeout_h: float) -> dict:
    """Apply the review's answer (Airflow's HITL result: ``chosen_options``, ``params_input``,
    ``responded_by_user``) to the proposed version. No answer (the response timeout) is recorded as a
    rejection by nobody, and the champion stays."""
    tracking = project_tracking_uri(Path(project))
    who = ((answer or {}).get("responded_by_user") or {}).get("name")
    if not who:
        return decide(proposal["model_name"], proposal["version"], False, "nobody (no answer)",
                      f"no decision within {timeout_h:g} h: not promoted", tracking=tracking)
    given = (answer or {}).get("params_input") or {}
    approve = (answer or {}).get("chosen_options") == ["Approve"]
    return decide(proposal["model_name"], proposal["version"], approve, str(who),
                  str(given.get("reason") or "(no reason given)"), bool(given.get("override_gates")), tracking)
