"""
### sales-ability nightly retraining

Runs the training side of the DVC pipeline in the project folder, one `dvc repro` at a time (DVC locks
the workspace, so the repro is never fanned out), then publishes the promotion decision.

1. **champion_before**: the registry's current `champion` version.
   A missing project folder or `dvc.yaml` fails the run at once (no retries): retrying cannot fix it.
2. **pull_data**: `dvc pull -r $SALES_ABILITY_DVC_REMOTE` when that variable names a remote (docker/ sets
   `minio`); skipped otherwise. A remote the project does not define fails at once.
3. **reproduce**: `dvc repro <target>`: featurize, train, finetune, evaluate (the `evaluate` stage
   registers the model as `challenger` and promotes it to `champion` when it beats the champion on the
   same test set by `registry.promotion_margin`), fit_thresholds, rate. Unchanged inputs are skipped by DVC.
4. **publish_champion**: when the champion changed, updates the `sales_ability_champion` Asset, which
   triggers batch scoring with the new model; otherwise skipped.

Trigger by hand: `airflow dags trigger sales_ability_retraining --conf '{"force": true}'`.
Logic lives in `sales_ability.serving.retraining`; this file only wires tasks.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task

if str(Path(__file__).parent) not in sys.path:  # Airflow 3 no longer puts the DAGs folder on sys.path
    sys.path.append(str(Path(__file__).parent))
from sales_ability_common import CHAMPION_MODEL, task_defaults  # noqa: E402 - the DAG helpers beside this file

PROJECT_DIR = os.environ.get("SALES_ABILITY_PROJECT", str(Path(__file__).resolve().parents[1]))


def _project() -> Path:
    """The checked project folder; a configuration error fails the task at once, without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from sales_ability.serving.retraining import RetrainingConfigError, check_project

    try:
        project = check_project(get_current_context()["params"]["project_dir"])
    except RetrainingConfigError as err:
        raise AirflowFailException(str(err)) from None
    return project


def _champion(project: Path) -> str | None:
    """The champion's version in the project's registry (tracking URI and model name passed explicitly)."""
    from airflow.sdk.exceptions import AirflowFailException

    from sales_ability.errors import ConfigError
    from sales_ability.serving.registry import champion_version, project_model_name
    from sales_ability.serving.tracking import project_tracking_uri

    try:
        name = project_model_name(project)
    except ConfigError as err:  # a broken params.yaml: no retry can fix it
        raise AirflowFailException(str(err)) from None
    return champion_version(name, project_tracking_uri(project))


@dag(
    dag_id="sales_ability_retraining",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(retry_delay=timedelta(minutes=5), max_retry_delay=timedelta(hours=1)),
    tags=["sales-ability", "training", "dvc", "mlflow"],
    doc_md=__doc__,
    params={
        "project_dir": Param(PROJECT_DIR, type="string", description="Project folder holding dvc.yaml"),
        "target": Param("", type="string", description="dvc repro target (empty: the whole pipeline)"),
        "force": Param(False, type="boolean", description="dvc repro --force (retrain on unchanged data)"),
    },
)
def sales_ability_retraining():
    @task
    def champion_before() -> str | None:
        return _champion(_project())

    @task
    def pull_data() -> str:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from sales_ability.serving.retraining import (
            REMOTE_ENV,
            RetrainingConfigError,
            pull_remote,
            run_dvc,
        )

        project = _project()
        try:
            remote = pull_remote(project)
        except RetrainingConfigError as err:
            raise AirflowFailException(str(err)) from None
        if remote is None:
            raise AirflowSkipException(f"{REMOTE_ENV} is not set: using the data in the workspace")
        return run_dvc(project, "pull", "-r", remote)[-2000:]

    @task(trigger_rule="none_failed")
    def reproduce() -> str:
        from sales_ability.serving.retraining import run_dvc

        project = _project()
        params = get_current_context()["params"]
        args = ["repro", *(["--force"] if params["force"] else []), *([params["target"]] if params["target"] else [])]
        return run_dvc(project, *args)[-4000:]

    @task(outlets=[CHAMPION_MODEL])
    def publish_champion(before: str | None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        after = _champion(_project())
        if after is None or after == before:
            raise AirflowSkipException(f"champion unchanged (version {after})")
        return {"previous": before, "champion": after}

    before = champion_before()
    repro = reproduce()
    before >> pull_data() >> repro >> publish_champion(before)


sales_ability_retraining()
