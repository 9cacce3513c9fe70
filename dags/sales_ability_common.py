"""What both DAGs share: the champion Asset, the training pool, the failure notifier and the task defaults
(Airflow-only, so it lives beside the DAGs; each DAG file puts its own folder on sys.path; `.airflowignore`
keeps it out of DAG parsing)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset

# failure_notifiers(): every task's and DAG run's on_failure_callback (the log, the webhook, the e-mail through the
# Airflow connection sales_ability_smtp); light to import: Airflow's notifier classes load on first call
from sales_ability.operations.alerts import failure_notifiers  # noqa: F401 - the DAG files import it from here
from sales_ability.settings import settings

# The deployment's SALES_ABILITY_* settings, read when Airflow parses the DAGs: a bad value fails the parse by name.
SETTINGS = settings()

# Updated by the retraining DAG whenever the registry's champion changes; batch scoring runs on it.
CHAMPION_MODEL = Asset(name="sales_ability_champion", uri="sales-ability://models/champion")

# One slot across the cluster: one `dvc repro` at a time, whatever triggered it (`make airflow`, the
# compose file's airflow-init and the stack test create it: `airflow pools set sales_ability_training 1 ...`).
TRAINING_POOL = "sales_ability_training"


def hours(value: float) -> timedelta:
    """A deployment's bound in hours (one of ``SETTINGS``' ``*_h`` fields)."""
    return timedelta(hours=value)


def task_defaults(retry_delay: timedelta, max_retry_delay: timedelta, execution_timeout: timedelta) -> dict:
    """Owner, failure notice, a time bound and retries with exponential backoff for every task of a DAG (a
    task where no retry can help sets ``retries=0`` itself). ``SALES_ABILITY_RETRY_DELAY_S`` overrides the
    first delay for a whole deployment (`make stack-test` uses 5 s to see a retry quickly)."""
    if SETTINGS.retry_delay_s:
        retry_delay = timedelta(seconds=SETTINGS.retry_delay_s)
    return {
        "owner": "mlops",
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max_retry_delay,
        "execution_timeout": execution_timeout,
        "on_failure_callback": failure_notifiers(),
    }
