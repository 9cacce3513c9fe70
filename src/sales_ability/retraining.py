"""The retraining side as the ``sales_ability_retraining`` DAG runs it: pull, ``dvc repro``, promotion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _env(project: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    return env


def run_dvc(project: str | Path, *args: str, timeout: float = 6 * 3600) -> str:
    """Run ``dvc ARGS`` in the project folder; raise with its output when it fails."""
    project = Path(project)
    proc = subprocess.run(["dvc", *args], cwd=project, env=_env(project), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed in {project}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


REMOTE_ENV = "SALES_ABILITY_DVC_REMOTE"


def pull_remote() -> str | None:
    """The DVC remote to pull from before a repro: ``$SALES_ABILITY_DVC_REMOTE`` (set in docker/), else None.

    A remote named in ``.dvc/config`` is not pulled from unless chosen here, so a laptop without MinIO
    trains on its workspace data."""
    return os.environ.get(REMOTE_ENV) or None


def champion_version(model_name: str = "sales-ability", tracking: str | None = None) -> str | None:
    """The registry version holding the ``champion`` alias, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from sales_ability.tracking import tracking_uri

    try:
        return str(MlflowClient(tracking or tracking_uri()).get_model_version_by_alias(model_name, "champion").version)
    except MlflowException:
        return None
