"""The Celery configuration of the deployment's Airflow workers: Airflow's own, plus one import at the worker's start.

``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=sales_ability.operations.celery_config.CELERY_CONFIG`` (docker-compose.yml,
the stack test). Celery's ``imports`` are imported by the worker process before it forks its pool, never by the
scheduler that also reads this dict, so the scheduler stays light while every task forked on a worker finds the
scoring stack imported (``sales_ability.operations.worker_preload``, which calls ``preload``).
"""

from __future__ import annotations

import importlib
import time

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOAD_MODULE = "sales_ability.operations.worker_preload"

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), PRELOAD_MODULE)}

# a shard task's own imports, heaviest first: Keras (TensorFlow) for the prediction, MLflow to resolve the pinned
# model version, then featurize (PyAV and OpenCV, which it imports inside its functions) and the task's logic
SCORING_STACK = (
    "sales_ability.model.predict",
    "mlflow",
    "av",
    "cv2",
    "sales_ability.data.featurize",
    "sales_ability.operations.batch",
)


def preload(modules: tuple[str, ...] = SCORING_STACK) -> tuple[float, list[str]]:
    """Import ``modules`` (no op runs, no model loads); returns the seconds it took and ``"module: error"`` for each
    that failed. A failure never stops the worker: its other tasks need none of these, and a shard task then
    imports the module itself and fails with the error where it belongs."""
    start, failed = time.perf_counter(), []
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - reported by the worker's log and each shard task's first line
            failed.append(f"{module}: {type(err).__name__}: {err}")
    return time.perf_counter() - start, failed
