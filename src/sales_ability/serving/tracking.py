"""MLflow helpers: one tracking store for the project (``sqlite:///mlflow.db`` unless overridden)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

# No telemetry calls from a machine that may have no network.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

EXPERIMENT = "sales-ability"
BATCH_EXPERIMENT = "sales-ability-batch"  # batch runs apart from the pipeline's stage runs
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the project's SQLite store (MLflow 3.13+ refuses a file store)."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def project_tracking_uri(project: str | Path) -> str:
    """The deployment's ``MLFLOW_TRACKING_URI`` if set, else the project's own SQLite store (computed per
    call, never written back to ``os.environ``: a long-lived Airflow worker may serve several projects)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(project) / 'mlflow.db'}"


def dvc_input_hashes(paths: list[str], lock_file: str | Path = "dvc.lock") -> dict[str, str]:
    """The md5 that ``dvc.lock`` records for each of ``paths`` (outputs of earlier stages)."""
    lock_file = Path(lock_file)
    if not lock_file.is_file():
        return {}
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    found: dict[str, str] = {}
    for stage in stages.values():
        for entry in stage.get("outs", []) + stage.get("deps", []):
            if entry.get("path") in paths and entry.get("md5"):
                found.setdefault(entry["path"], entry["md5"])
    return found


def dvc_tags(paths: list[Path]) -> dict[str, str]:
    """MLflow tags with the DVC hashes of a stage's inputs (``dvc.<path>``), so a run names its data."""
    return {f"dvc.{k}": v for k, v in dvc_input_hashes([str(p) for p in paths]).items()}


def git_commit() -> str | None:
    """The current commit, if this is a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _metric_key(key: object) -> str:
    """A key MLflow accepts (alphanumerics and ``_-. :/``): a group such as ``55+`` becomes ``55_plus``."""
    return re.sub(r"[^\w\-. :/]", "_", str(key).replace("+", "_plus"))


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{_metric_key(k)}" if prefix else _metric_key(k), v, out)
    elif isinstance(value, bool):
        out[prefix] = float(value)
    elif isinstance(value, int | float) and value is not None:
        out[prefix] = float(value)


def flatten_metrics(metrics: dict) -> dict[str, float]:
    """Nested numbers -> ``a.b.c`` keys (lists and strings are skipped)."""
    out: dict[str, float] = {}
    _flatten("", metrics, out)
    return out


@contextmanager
def stage_run(stage: str, params: dict | None = None, tags: dict | None = None, tracking: str | None = None,
              experiment: str = EXPERIMENT) -> Iterator[Any]:
    """An MLflow run for one pipeline stage, tagged with the stage and the git commit.

    Args:
        tracking: the tracking URI (default: ``tracking_uri()``).
        experiment: the MLflow experiment (batch runs have their own).
    """
    import mlflow

    mlflow.set_tracking_uri(tracking or tracking_uri())
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=stage) as run:
        mlflow.set_tags({"stage": stage, **({"git_commit": c} if (c := git_commit()) else {}), **(tags or {})})
        if params:
            mlflow.log_params(flatten_metrics(params) | {k: v for k, v in params.items() if isinstance(v, str)})
        yield run


def log_files(paths: list[Path], artifact_path: str | None = None) -> None:
    """Log existing files as artifacts of the active run."""
    import mlflow

    for p in paths:
        if Path(p).is_file():
            mlflow.log_artifact(str(p), artifact_path=artifact_path)
