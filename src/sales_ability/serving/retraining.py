"""The retraining side as the ``sales_ability_retraining`` DAG runs it: pull, ``dvc repro``, promotion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sales_ability.errors import SalesAbilityError
from sales_ability.serving.tracking import project_tracking_uri


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


REMOTE_ENV = "SALES_ABILITY_DVC_REMOTE"


def pull_remote(project: str | Path) -> str | None:
    """The DVC remote to pull from before a repro: ``$SALES_ABILITY_DVC_REMOTE`` (set in docker/), else None.

    A remote named in ``.dvc/config`` is not pulled from unless chosen here, so a laptop without an S3
    store trains on its workspace data.

    Raises:
        RetrainingConfigError: the variable names a remote the project's DVC config does not define.
    """
    remote = os.environ.get(REMOTE_ENV) or None
    if remote is not None:
        known = [line.split()[0] for line in run_dvc(project, "remote", "list").splitlines() if line.strip()]
        if remote not in known:
            raise RetrainingConfigError(f"{REMOTE_ENV}={remote}: no such DVC remote in {Path(project) / '.dvc/config'} "
                                        f"(known: {', '.join(known) or 'none'})")
    return remote
