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

from sales_ability.data.face_tensors import read_face_tensors
from sales_ability.traits import TRAITS

# No telemetry calls from a machine that may have no network.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

EXPERIMENT = "sales-ability"
BATCH_EXPERIMENT = "sales-ability-batch"  # batch runs apart from the pipeline's stage runs
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def http_timeout() -> float:
    """Seconds MLflow waits for each request to a tracking server (``MLFLOW_HTTP_REQUEST_TIMEOUT``)."""
    return float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "120"))


def fail_fast_tracking(timeout_s: float = 5.0) -> None:
    """For interactive commands: a tracking server that does not answer fails in seconds (one retry), not
    after MLflow's default 120 s x 7 retries with backoff. Explicit environment settings win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", f"{timeout_s:g}")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


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


def flatten_params(params: dict, prefix: str = "") -> dict[str, str]:
    """Params as MLflow stores them (text), each with its real type's spelling: ``70`` stays ``70``, ``True``
    stays ``True``, None is recorded as ``None`` (not dropped), lists as ``[...]``; nested keys ``a.b``."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out |= flatten_params(value, name)
        else:
            out[name] = str(list(value) if isinstance(value, tuple) else value)
    return out


def _dvc_invocation() -> tuple[str, str] | None:
    """(key, command line) of the ``dvc repro`` / ``dvc exp run`` process this stage runs under, or None.

    Every stage of one invocation is a child process of the same dvc process, so its pid and start time
    name the pipeline run that groups them. The start time is counted from boot: psutil's ``create_time`` adds the
    boot time as the system clock gives it now, which moves when the clock is stepped (27 s during one test
    session's `dvc repro`), and split one invocation into two pipeline runs."""
    import psutil

    try:
        for proc in psutil.Process().parents():
            cmd = proc.cmdline()
            for i, part in enumerate(cmd[:2]):  # `dvc ...` or `python .venv/bin/dvc ...`
                if Path(part).name == "dvc":
                    since_boot = proc.create_time() - psutil.boot_time()
                    return f"{proc.pid}-{since_boot:.2f}", " ".join(["dvc", *cmd[i + 1:]])
    except psutil.Error:
        return None
    return None


def _pipeline_parent(client, experiment_id: str, started_ms: int, shared_tags: dict[str, str]) -> str | None:
    """The pipeline run the stage's run is a child of: the run of the dvc invocation this stage runs under
    (created by its first stage, with ``shared_tags``), else None (a script run by hand)."""
    invocation = _dvc_invocation()
    if invocation is None:
        return None
    key, command = invocation
    found = client.search_runs([experiment_id], filter_string=f"tags.pipeline_key = '{key}'", max_results=1)
    if found:
        return found[0].info.run_id
    exp = os.environ.get("DVC_EXP_NAME")
    tags = {"pipeline_key": key, "mlflow.runName": f"dvc exp {exp}" if exp else "dvc repro", "dvc.command": command,
            **({"dvc.baseline_rev": os.environ["DVC_EXP_BASELINE_REV"]} if os.environ.get("DVC_EXP_BASELINE_REV") else {}),
            **shared_tags}
    return client.create_run(experiment_id, start_time=started_ms, tags=tags).info.run_id


@contextmanager
def stage_run(stage: str, params: dict | None = None, tags: dict | None = None, tracking: str | None = None,
              experiment: str = EXPERIMENT, pipeline: bool = True) -> Iterator[Any]:
    """An MLflow run for one pipeline stage, tagged with the stage and the git commit.

    The run starts when the stage's process started (so its duration covers the stage's work, imports
    included) and, with ``pipeline``, is a child of the run of its ``dvc repro`` / ``dvc exp run`` (tagged
    with the DVC experiment's name), whose end time and status follow its latest stage.

    Args:
        params: logged with their real types' spelling (``flatten_params``).
        tracking: the tracking URI (default: ``tracking_uri()``).
        experiment: the MLflow experiment (batch runs have their own, without a pipeline parent).
    """
    import mlflow
    import psutil
    from mlflow import MlflowClient

    uri = tracking or tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    client = MlflowClient(uri)
    started_ms = int(psutil.Process().create_time() * 1000)
    shared = {**({"git_commit": c} if (c := git_commit()) else {}),  # the pipeline run's and the stage's
              **({"dvc.experiment": os.environ["DVC_EXP_NAME"]} if os.environ.get("DVC_EXP_NAME") else {})}
    parent = _pipeline_parent(client, experiment_id, started_ms, shared) if pipeline else None
    created = client.create_run(experiment_id, start_time=started_ms, run_name=stage,
                                tags={"stage": stage, **shared, **(tags or {}),
                                      **({"mlflow.parentRunId": parent} if parent else {})})
    status = "FAILED"
    try:
        with mlflow.start_run(run_id=created.info.run_id) as run:
            if params:
                mlflow.log_params(flatten_params(params))
            yield run
        status = "FINISHED"
    finally:
        if parent:
            client.set_terminated(parent, status)


def log_face_tensor_splits(faces: Path, splits: tuple[str, ...]) -> None:
    """Log the manifest of a face-tensor folder (its clips' ids, sources, participants, labels; no pixels) as
    one MLflow dataset per split, in the context of that split (``training``, ``validation``, ``test``), each
    with the digest MLflow computes from its rows."""
    import mlflow

    columns = ["clip_id", "source", "participant_id", "split", "start_s", "end_s", *TRAITS]
    manifest = read_face_tensors(faces, columns=columns).to_pandas()
    contexts = {"train": "training", "validation": "validation", "calibration": "calibration", "selection": "selection",
                "test": "testing"}
    for split in splits:
        rows = manifest[manifest["split"] == split].reset_index(drop=True)
        if len(rows):
            dataset = mlflow.data.from_pandas(rows, source=str(faces), name=f"{faces.name}/{split}")
            mlflow.log_input(dataset, context=contexts.get(split, split))


def log_files(paths: list[Path], artifact_path: str | None = None) -> None:
    """Log existing files as artifacts of the active run."""
    import mlflow

    for p in paths:
        if Path(p).is_file():
            mlflow.log_artifact(str(p), artifact_path=artifact_path)
