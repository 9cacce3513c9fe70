"""The Celery configuration of the deployment's Airflow workers: Airflow's own, plus one import at the worker's start.

``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=sales_ability.operations.celery_config.CELERY_CONFIG`` (docker-compose.yml,
the stack test). Celery's ``imports`` are imported by the worker process before it forks its pool, never by the
scheduler that also reads this dict, so the scheduler stays light while every task forked on a worker finds the
scoring stack imported (``sales_ability.operations.worker_preload``).
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOAD_MODULE = "sales_ability.operations.worker_preload"

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), PRELOAD_MODULE)}
