"""What an Airflow Celery worker imports once, at its start, so that each batch shard task starts warm.

Airflow 3 runs every task in a process forked from the worker (``airflow.sdk.execution_time.supervisor``
forks on Linux), and that process inherits whatever the worker had imported. A shard task that starts cold
spends about 4 s of its 15 s importing Keras (TensorFlow) and MLflow before its first prediction; after this
module, those imports are the worker's, paid once per worker, and the shard task's own time is featurize,
the model's load and its prediction (``python -m benchmarks scoring`` measures both).

Only imports happen here: no TensorFlow op runs and no model is loaded, since a runtime that has started its
thread pools is not safe to fork. The worker imports this module through Celery's ``imports`` setting, named
by ``sales_ability.operations.celery_config.CELERY_CONFIG`` (``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS``).
"""

from __future__ import annotations

import importlib
import logging
import time

log = logging.getLogger(__name__)

# the shard task's own imports, heaviest first: Keras (TensorFlow) for the prediction, MLflow to resolve the
# pinned model version, then featurize (PyAV, OpenCV, pyarrow) and the task's logic
SCORING_STACK = (
    "sales_ability.model.predict",
    "mlflow",
    "sales_ability.data.featurize",
    "sales_ability.data.faces",
    "sales_ability.data.video",
    "sales_ability.operations.batch",
)


def preload(modules: tuple[str, ...] = SCORING_STACK) -> float:
    """Import ``modules`` (no op runs); returns the seconds it took."""
    start = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    for name in ("av", "cv2"):  # featurize imports these inside its functions
        importlib.import_module(name)
    return time.perf_counter() - start


# at import, which is all the worker does with this module (score_shard's log says whether its process has it)
log.info("sales-ability: the scoring stack is preloaded for shard tasks (%.1f s)", preload())
