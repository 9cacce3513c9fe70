"""What both DAGs share: the champion Asset and the task defaults (Airflow-only, so it lives beside the DAGs;
each DAG file puts its own folder on sys.path; `.airflowignore` keeps it out of DAG parsing)."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import Asset

# Updated by the retraining DAG whenever the registry's champion changes; batch scoring runs on it.
CHAMPION_MODEL = Asset(name="sales_ability_champion", uri="sales-ability://models/champion")


def task_defaults(retry_delay: timedelta, max_retry_delay: timedelta) -> dict:
    """Owner and retries with exponential backoff for every task of a DAG. ``SALES_ABILITY_RETRY_DELAY_S``
    overrides the first delay for a whole deployment (`make stack-test` uses 5 s to see a retry quickly)."""
    if os.environ.get("SALES_ABILITY_RETRY_DELAY_S"):
        retry_delay = timedelta(seconds=float(os.environ["SALES_ABILITY_RETRY_DELAY_S"]))
    return {
        "owner": "mlops",
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max_retry_delay,
    }
