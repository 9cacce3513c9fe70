"""
### sales-ability batch scoring

Scores the applicants that land in the **inbox** (a folder of `answer_<n>` recordings per applicant, as
the website's screening mode publishes them, or loose videos) with the registry's `champion` model and
the knowledge base, into the **results database** (one ranked row per applicant with the sales score's
interval, one row per 15 s segment with its face strip, rejects, the ledger, the run) and a report per
run, `outbox/reports/<run id>.html` (applicants ranked by sales score, with the caveat that the score
supports, never replaces, a human decision). `sales-ability report` renders any other selection.

Runs hourly and whenever the retraining DAG publishes a new champion (the `sales_ability_champion`
Asset). An applicant folder is scored once it is complete (`complete.json`, written last by the website)
and only once; an answer arriving later is logged as late and not scored. A loose video is known by the
sha256 of its content, so a renamed copy is never scored twice; re-running a DAG run scores nothing again
and loses nothing.

1. **list_new_applicants**: new complete applicants, split into shards of about `shard_size` videos. A
   missing *default* inbox (a fresh install) is a green run with nothing to score; an explicit inbox,
   knowledge base or model that does not exist fails at once, without retries (a configuration error);
   other errors keep their retries.
   The champion alias is resolved here, once: every shard carries `models:/<name>/<version>`, so a
   promotion or a retry during the run never scores two applicants with different models.
2. **score_shard** (dynamic task mapping, one per shard): segment, featurize, predict, rate; a bad video
   goes to the rejects with its reason and the shard goes on.
3. **merge_shards**: inserts the shards into the results database (`SALES_ABILITY_DATABASE_URL`, else
   `<project>/results.db`) in one transaction, drops their face tensors, writes `outbox/reports/<run id>.html`.
4. **log_to_mlflow**: one MLflow run (experiment `sales-ability-batch`) with aggregates only: counts,
   timings, the sales-score distribution, model versions. No personal data, no faces.

Trigger by hand: `airflow dags trigger sales_ability_batch_scoring --conf '{"inbox": "/data/inbox"}'`.
Logic lives in `sales_ability.operations.batch`; this file only wires tasks.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

if str(Path(__file__).parent) not in sys.path:  # Airflow 3 no longer puts the DAGs folder on sys.path
    sys.path.append(str(Path(__file__).parent))
from sales_ability_common import CHAMPION_MODEL, SETTINGS, failure_notifiers, hours, task_defaults  # noqa: E402 - beside this file

PROJECT_DIR = str(SETTINGS.project or Path(__file__).resolve().parents[1])
# the same settings the screening website and `applicants delete` read, so erasure reaches these folders
DEFAULT_INBOX = str(SETTINGS.inbox or f"{PROJECT_DIR}/inbox")
DEFAULT_OUTBOX = str(SETTINGS.outbox or f"{PROJECT_DIR}/outbox")


def _params() -> dict:
    """The run's params, with the model URI (empty: the project's champion) and the tracking URI resolved per
    project and passed explicitly (never written to os.environ: a worker may serve several projects)."""
    from airflow.sdk.exceptions import AirflowFailException

    from sales_ability.operations.batch import ScoringConfigError, batch_model_uri
    from sales_ability.registry.tracking import project_tracking_uri

    params = dict(get_current_context()["params"])
    try:
        params["model_uri"] = batch_model_uri(params["model_uri"], params["project_dir"])
    except ScoringConfigError as err:  # a broken params.yaml: no retry can fix it
        raise AirflowFailException(str(err)) from None
    params["tracking"] = project_tracking_uri(params["project_dir"])
    from sales_ability.results.store import database_url

    params["database_url"] = database_url(params["project_dir"])  # SALES_ABILITY_DATABASE_URL, else <project>/results.db
    return params


@dag(
    dag_id="sales_ability_batch_scoring",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"), assets=[CHAMPION_MODEL]),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # bounds sized from measured times (the stack test: a shard of 2 videos in about 20 s, a merge in about 1 s)
    default_args=task_defaults(retry_delay=timedelta(minutes=2), max_retry_delay=timedelta(minutes=30),
                               execution_timeout=timedelta(minutes=15)),
    dagrun_timeout=hours(SETTINGS.batch_dagrun_timeout_h),
    on_failure_callback=failure_notifiers(),
    tags=["sales-ability", "scoring", "mlflow"],
    doc_md=__doc__,
    params={
        "project_dir": Param(PROJECT_DIR, type="string", description="Project folder (params.yaml, mlflow.db)"),
        "inbox": Param(DEFAULT_INBOX, type="string", description="Folder of candidate videos"),
        "outbox": Param(DEFAULT_OUTBOX, type="string", description="Where results and the report go"),
        "model_uri": Param("", type="string",
                           description="Model to score with (empty: models:/<registry.model_name>@champion of the project)"),
        "knowledge_base": Param("", type="string",
                                description="KB.json to rate with (empty: the knowledge base logged with the model version "
                                            "the run resolved, never a file that retraining rewrites meanwhile)"),
        "shard_size": Param(SETTINGS.shard_size, type="integer", minimum=1,
                            description="Videos per mapped scoring task (deployment default: SALES_ABILITY_SHARD_SIZE)"),
    },
)
def sales_ability_batch_scoring():
    @task
    def list_new_applicants() -> list[dict]:
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        from sales_ability.operations.batch import ScoringConfigError
        from sales_ability.operations.batch import list_new_applicants as list_new

        p = _params()
        try:  # the default inbox of a fresh install may not exist yet: nothing to score, a green run
            listing = list_new(p["inbox"], p["outbox"], int(p["shard_size"]), missing_ok=p["inbox"] == DEFAULT_INBOX,
                               knowledge_base=p["knowledge_base"] or None, database_url=p["database_url"],
                               run_id=get_current_context()["run_id"], model_uri=p["model_uri"], tracking=p["tracking"])
        except ScoringConfigError as err:  # a configuration error: no retry can fix it
            raise AirflowFailException(str(err)) from None
        # counts only: applicant codes outlive a withdrawal, so they stay out of task logs (names: the database)
        log = logging.getLogger(__name__)
        log.info("%d shards to score; %d applicants waiting for complete.json; %d carried over to the next run "
                 "(at most SALES_ABILITY_MAX_SHARDS shards a run)", len(listing["shards"]), len(listing["waiting"]),
                 listing["carried_over"])
        if listing["late"]:
            log.warning("%d applicants scored already have answers that arrived later (not scored)", len(listing["late"]))
        if listing["rejected"]:
            log.warning("%d inbox entries refused (links, non-regular files, undecodable names): see the rejects table",
                        len(listing["rejected"]))
        return listing["shards"]

    # a lost worker is what a retry helps with (the shard restarts from scratch; merge is idempotent)
    @task(max_active_tis_per_dagrun=4, execution_timeout=hours(SETTINGS.shard_timeout_h))
    def score_shard(shard: dict) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from sales_ability.operations.batch import ScoringConfigError
        from sales_ability.operations.batch import score_shard as score

        p = _params()
        try:
            return score(shard, p["outbox"], p["knowledge_base"] or None, p["model_uri"], Path(p["project_dir"]) / "params.yaml",
                         p["tracking"], p["database_url"])
        except ScoringConfigError as err:
            raise AirflowFailException(str(err)) from None

    @task
    def merge_shards(shard_dirs: list[str]) -> dict:
        from sales_ability.operations.batch import merge_shards as merge

        p = _params()
        return merge(list(shard_dirs), p["outbox"], p["knowledge_base"] or None, p["model_uri"], p["database_url"],
                     get_current_context()["run_id"], inbox=p["inbox"])

    @task
    def log_to_mlflow(counts: dict) -> None:
        from sales_ability.operations.batch import log_batch_run

        p = _params()
        log_batch_run(counts, p["outbox"], get_current_context()["run_id"], p["tracking"], p["database_url"])

    shards = list_new_applicants()
    log_to_mlflow(merge_shards(score_shard.expand(shard=shards)))


sales_ability_batch_scoring()
