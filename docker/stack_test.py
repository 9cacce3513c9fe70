"""`make stack-test`: the compose file's stack as local processes on loopback ports, and the distributed
scenario run against it.

Services, with the settings of `docker/.env.example` (the file the compose file reads):
PostgreSQL (Airflow metadata, MLflow backend), Redis (Celery broker), SeaweedFS's S3 server (buckets `dvc`
and `mlflow`), an MLflow tracking server (Postgres backend, artifacts on s3://mlflow), and Airflow 3 with
the CeleryExecutor: api-server, scheduler, dag-processor, triggerer and two Celery workers.

Scenario on a small demo project: `dvc repro`, `dvc push` to S3 and `dvc pull` into a clean clone; the
retraining DAG triggered through the REST API (registers the model on the server, publishes the champion
Asset); the batch-scoring DAG that Asset starts (12 clips + bad files, shard_size 2, mapped over both
workers); a second run that scores nothing; a worker killed by PID in the middle of a run. Every process
is stopped by PID at the end, also when a step fails; `reports/stack_test.json` holds the figures.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).parent))
from stack_harness import ENV_FILE, REPO, Stack, log, read_env_file, start_postgres, start_s3  # noqa: E402
from stack_scenario import run_scenario  # noqa: E402


def main(
    report: Path = typer.Option(REPO / "reports" / "stack_test.json", help="Where the figures go."),
    keep: bool = typer.Option(False, help="Keep the temporary folder (logs) after the run."),
) -> None:
    """Start the stack as local processes, run the distributed scenario against it, write the report."""
    started = time.perf_counter()
    settings = read_env_file()
    root = Path(tempfile.mkdtemp(prefix="stack-test-"))
    root.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data folder
    (root / "logs").mkdir()
    stack = Stack(root)
    result: dict = {"ok": False, "settings_file": str(ENV_FILE.relative_to(REPO))}
    try:
        result |= run_scenario(stack, settings, start_postgres, start_s3)
        result["ok"] = True
    except Exception as err:  # noqa: BLE001 - reported, then the exit code says it failed
        result["error"] = f"{type(err).__name__}: {err}"
        log(f"FAILED: {result['error']}")
        for name in stack.procs:
            tail = stack.tail(name, 15)
            if tail:
                log(f"--- {name} log tail ---\n{tail}")
    finally:
        result["stopped"] = stack.stop_all()
        result["seconds_total"] = round(time.perf_counter() - started, 1)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2) + "\n")
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        log(f"report: {report} ({result['seconds_total']} s, ok={result['ok']})")
    if not result["ok"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
