"""What an Airflow Celery worker imports once, at its start, so that each batch shard task starts warm.

Airflow 3 runs every task in a process forked from the worker (``airflow.sdk.execution_time.supervisor``
forks on Linux), and that process inherits whatever the worker had imported. A shard task that starts cold
spends about 6 s of its 16 s importing Keras (TensorFlow) and MLflow before its first prediction; after this
module, those imports are the worker's, paid once per worker, and the shard task's own time is featurize,
the model's load and its prediction (``python -m benchmarks scoring`` measures both).

Only imports happen here: no TensorFlow op runs and no model is loaded, since a runtime that has started its
thread pools is not safe to fork. The worker imports this module through Celery's ``imports`` setting, named
by ``sales_ability.operations.celery_config.CELERY_CONFIG`` (``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS``).
"""

from __future__ import annotations

import logging

from sales_ability.operations.celery_config import preload

log = logging.getLogger(__name__)

SECONDS, FAILED = preload()  # at import, which is all the worker does with this module
if FAILED:
    log.warning("sales-ability: not preloaded for shard tasks (each imports it itself): %s", "; ".join(FAILED))
else:
    log.info("sales-ability: the scoring stack is preloaded for shard tasks (%.1f s)", SECONDS)
