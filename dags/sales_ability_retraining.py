"""
### sales-ability nightly retraining

Runs the training side of the DVC pipeline in the project folder, one `dvc repro` at a time (DVC locks
the workspace, so the repro is never fanned out), then publishes the promotion decision.

1. **champion_before**: the registry's current `champion` version.
   A missing project folder or `dvc.yaml` fails the run at once (no retries): retrying cannot fix it.
2. **pull_data**: `dvc pull -r $SALES_ABILITY_DVC_REMOTE` when that variable names a remote (docker/ sets
   `minio`); skipped otherwise. A remote the project does not define fails at once. 3 retries (network).
3. **ingest_collected**: the website's complete, consented participants (`$SALES_ABILITY_COLLECT_DATA`, the
   website's `--data-dir`) into `data/raw/collected`, the withdrawn dropped, those that cannot be trained on
   left out with their reason, and `dvc add` records the new version (`sales_ability.operations.ingest`;
   counts in the log and in MLflow's `sales-ability-ingest` experiment). Skipped when the variable is unset.
   First, every withdrawal the website recorded is forgotten everywhere (`sales_ability.operations.forget`:
   every DVC version in the cache and on `$SALES_ABILITY_DVC_REMOTE`, MLflow's artifacts, the results
   database; models trained on them flagged), and requests older than 30 days not complete raise a notice.
4. **reproduce**: skipped when `dvc status` finds data, code and params as `dvc.lock` records them (nothing
   new: nothing is trained again) unless `force`; else
   `dvc repro <target>` in the pool `sales_ability_training` (one slot: one repro at a time
   across the cluster), no retries, bounded by `SALES_ABILITY_REPRO_TIMEOUT_H` (12 h): featurize, train,
   finetune, evaluate (which logs the serving bundle as a *candidate*, `models/candidate.json`, and touches
   no registry), fit_thresholds, rate. Unchanged inputs are skipped by DVC; a bad param fails in
   `check_params` before any output is removed.
5. **propose_candidate**: registers the candidate under `challenger` and compares it with the champion on
   the selection people (validation, never test), each model with its own featurize settings and knowledge
   base, on what a recruiter receives (`sales_ability.operations.promotion`). Skipped when the candidate was
   decided before (nothing new was trained).
6. **review_candidate**: a person decides (Airflow's human-in-the-loop form: Approve or Reject, a reason,
   and an override for a failed gate), shown the comparison. No answer within
   `SALES_ABILITY_APPROVAL_TIMEOUT_H` (72 h) means Reject. **apply_decision** records who, when, why and what
   they saw on the version; only an approval moves `champion` (a failed gate needs the override).
7. **push_outputs**: `dvc push -r $SALES_ABILITY_DVC_REMOTE`, so every worker pulls the new model (skipped
   without a remote). **record_lock**: `dvc.lock` and the git-versioned metrics committed on the branch
   `retraining/<run id>` with the ingest's `data/raw/collected.dvc` (the checkout's HEAD, index and files
   untouched; pushed to `$SALES_ABILITY_GIT_REMOTE` when set): a reviewer merges it.
8. **publish_champion**: when the champion changed, updates the `sales_ability_champion` Asset, which
   triggers batch scoring with the new model; otherwise skipped.

Unattended: every task has an `execution_timeout` and the run a `dagrun_timeout` (20 h); any failure (a
task's or the run's) goes through Airflow notifiers to the log, `SALES_ABILITY_ALERT_WEBHOOK` and/or by e-mail
through the Airflow connection `sales_ability_smtp` (sales_ability.operations.alerts).

Trigger by hand: `airflow dags trigger sales_ability_retraining --conf '{"force": true}'`.
Logic lives in `sales_ability.operations.retraining`; this file only wires tasks.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, get_current_context, task

if str(Path(__file__).parent) not in sys.path:  # Airflow 3 no longer puts the DAGs folder on sys.path
    sys.path.append(str(Path(__file__).parent))
from sales_ability_common import (  # noqa: E402 - the DAG helpers beside this file
    CHAMPION_MODEL,
    SETTINGS,
    TRAINING_POOL,
    hours,
    failure_notifiers,
    task_defaults,
)

PROJECT_DIR = str(SETTINGS.project or Path(__file__).resolve().parents[1])
APPROVAL_TIMEOUT = hours(SETTINGS.approval_timeout_h)


def _project() -> Path:
    """The checked project folder; a configuration error fails the task at once, without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from sales_ability.operations.retraining import RetrainingConfigError, check_project

    try:
        project = check_project(get_current_context()["params"]["project_dir"])
    except RetrainingConfigError as err:
        raise AirflowFailException(str(err)) from None
    return project


def _champion(project: Path) -> str | None:
    """The champion's version in the project's registry (tracking URI and model name passed explicitly)."""
    from airflow.sdk.exceptions import AirflowFailException

    from sales_ability.errors import ConfigError
    from sales_ability.registry.models import champion_version, project_model_name
    from sales_ability.registry.tracking import project_tracking_uri

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
    # bounds sized from measured times: the demo's whole `dvc repro` takes 8 min and a lookup or a push
    # seconds; a full First Impressions repro is hours, so reproduce's bound is a deployment setting
    default_args=task_defaults(retry_delay=timedelta(minutes=5), max_retry_delay=timedelta(hours=1),
                               execution_timeout=timedelta(minutes=10)),
    dagrun_timeout=hours(SETTINGS.retraining_dagrun_timeout_h),  # ends before the next night's run
    on_failure_callback=failure_notifiers(),
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

    @task(retries=3, execution_timeout=timedelta(hours=1))  # a network hiccup: retrying helps
    def pull_data() -> str:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from sales_ability.operations.retraining import (
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

    @task(trigger_rule="none_failed", retries=1, execution_timeout=timedelta(hours=1))  # after a skipped pull too
    def ingest_collected() -> dict:
        """The website's participants completed since the last ingest: a new DVC version of data/raw/collected."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from sales_ability.operations.alerts import Alert, send_alert
        from sales_ability.operations.forget import DEADLINE_DAYS, erasure_status, forget_requested
        from sales_ability.operations.ingest import IngestError, ingest_collected
        from sales_ability.settings import settings

        website, context = settings().collect_data, get_current_context()
        if website is None:
            raise AirflowSkipException("SALES_ABILITY_COLLECT_DATA is not set: no website data to ingest")
        remote = settings().dvc_remote
        # the website's withdrawals first: each person leaves every version, store and model's artifacts
        # (a failure leaves the request pending; the retry, or the next night, resumes it)
        forgotten = forget_requested(website, _project(), remotes=[remote] if remote else [])
        for done in forgotten:
            print(f"forget: {done.record.request} complete, record {done.path.name}")
        late = [r for r in erasure_status(_project(), website) if r.overdue]
        if late:  # the deadline notice: the erasure itself never blocks the night
            send_alert(Alert(context["dag_run"].dag_id, context["run_id"], "ingest_collected", None,
                             f"{len(late)} erasure request(s) older than {DEADLINE_DAYS} days and not complete "
                             "(sales-ability forget --status)", None))
        try:
            result = ingest_collected(website, _project(), run_id=context["run_id"])
        except IngestError as err:  # a missing folder: retrying cannot help
            raise AirflowFailException(str(err)) from None
        for participant, reason in result.rejected.items():  # the operator's to follow up, in the task's log only
            print(f"ingest: left out {participant}: {reason}")
        return {**result.counts(), "version": result.version, "forgotten": len(forgotten),
                "erasures_overdue": len(late)}  # XCom keeps no participant id

    # no retries: a failed repro is a code, data or params error (a killed one resumes from its finished
    # featurize shards when triggered again); the pool keeps one repro at a time across the cluster
    @task(trigger_rule="none_failed", retries=0, pool=TRAINING_POOL,
          execution_timeout=hours(SETTINGS.repro_timeout_h))
    def reproduce() -> str:
        from airflow.sdk.exceptions import AirflowSkipException

        from sales_ability.operations.retraining import pipeline_up_to_date, run_dvc

        project = _project()
        params = get_current_context()["params"]
        if not params["force"] and pipeline_up_to_date(project):
            raise AirflowSkipException("dvc status: data, code and params as dvc.lock records them; nothing to train")
        args = ["repro", *(["--force"] if params["force"] else []), *([params["target"]] if params["target"] else [])]
        return run_dvc(project, *args)[-4000:]

    @task(outlets=[CHAMPION_MODEL])
    def publish_champion(before: str | None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        after = _champion(_project())
        if after is None or after == before:
            raise AirflowSkipException(f"champion unchanged (version {after})")
        return {"previous": before, "champion": after}

    @task(trigger_rule="none_failed", retries=3, execution_timeout=timedelta(hours=1))
    def push_outputs() -> str:
        """`dvc push` of the new outputs, so another worker pulls this model, not the old one."""
        from airflow.sdk.exceptions import AirflowSkipException

        from sales_ability.operations.retraining import REMOTE_ENV, pull_remote, run_dvc

        project = _project()
        remote = pull_remote(project)
        if remote is None:
            raise AirflowSkipException(f"{REMOTE_ENV} is not set: the outputs stay in this workspace's cache")
        return run_dvc(project, "push", "-r", remote)[-2000:]

    @task(trigger_rule="none_failed", retries=1)
    def record_lock() -> dict:
        """dvc.lock and the git-versioned metrics, committed on branch retraining/<run id> (HEAD untouched)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from sales_ability.operations.retraining import NothingToRecord, record_outputs

        try:
            return record_outputs(_project(), get_current_context()["run_id"])
        except NothingToRecord as why:
            raise AirflowSkipException(str(why)) from None

    @task(trigger_rule="none_failed", retries=1, execution_timeout=timedelta(hours=2))  # scores the selection people with both models
    def propose_candidate() -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from sales_ability.operations.promotion import CANDIDATE_FILE, AlreadyDecided
        from sales_ability.operations.retraining import propose_in_project

        project = _project()
        if not (project / "models" / CANDIDATE_FILE).is_file():  # after a skipped repro of a fresh project
            raise AirflowSkipException(f"{project / 'models' / CANDIDATE_FILE}: no candidate (nothing trained yet)")
        try:
            return propose_in_project(project)
        except AlreadyDecided as why:
            raise AirflowSkipException(str(why)) from None

    review = HITLOperator(
        task_id="review_candidate",
        subject="sales-ability: promote candidate version {{ ti.xcom_pull(task_ids='propose_candidate')['version'] }} "
                "to champion?",
        body="{{ ti.xcom_pull(task_ids='propose_candidate')['markdown'] }}",
        options=["Approve", "Reject"],
        defaults=["Reject"],  # no answer in time: the champion stays
        params={"reason": Param("", type="string", description="Why (recorded on the model version)"),
                "override_gates": Param(False, type="boolean",
                                        description="Approve although a gate failed (say why in the reason)")},
        response_timeout=APPROVAL_TIMEOUT,
        retries=0,
    )

    @task(retries=0)
    def apply_decision(proposal: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from sales_ability.operations.promotion import PromotionBlocked
        from sales_ability.operations.retraining import decide_in_project

        answer = get_current_context()["ti"].xcom_pull(task_ids="review_candidate")
        try:
            return decide_in_project(_project(), proposal, answer, APPROVAL_TIMEOUT.total_seconds() / 3600)
        except PromotionBlocked as err:  # an approval a gate refuses without the override: nothing moved
            raise AirflowFailException(str(err)) from None

    before = champion_before()
    repro = reproduce()
    pushed = push_outputs()
    recorded = record_lock()
    proposal = propose_candidate()
    decision = apply_decision(proposal)
    # a skipped repro (nothing new) still lets the ingest's version be pushed and recorded, and a candidate
    # reproduced by hand be proposed (none_failed); an undecided one is only proposed once
    before >> pull_data() >> ingest_collected() >> repro >> [pushed, recorded]
    repro >> proposal >> review >> decision >> publish_champion(before)


sales_ability_retraining()
