"""Run one DAG with ``dag.test()`` in this process and print a JSON summary (used by the DAG tests).

Usage: python dag_runner.py DAG_ID CONF_JSON [keep-retries]  (AIRFLOW_HOME and friends come from the environment)

Retries are set to 0 (a failing task fails the test now instead of waiting out its backoff) unless
``keep-retries`` is given: then a task that fails at once despite its retries shows it needs none.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def main(dag_id: str, conf: str, retries: str = "") -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(str(Path(__file__).resolve().parents[2] / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    configured = {task.task_id: task.retries for task in dag.tasks}
    if retries != "keep-retries":
        for task in dag.tasks:  # a failing task must fail the test now, not wait out its retry backoff
            task.retries = 0
    run = dag.test(run_conf=json.loads(conf))
    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id).all()
        states = {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in tis}
        tries = {ti.task_id: ti.try_number for ti in tis if ti.map_index < 0}
        mapped = Counter(ti.task_id for ti in tis if ti.map_index >= 0)
    print("DAG_RESULT " + json.dumps({"state": str(run.state), "tasks": states, "mapped": dict(mapped),
                                      "tries": tries, "configured_retries": configured}))


if __name__ == "__main__":
    main(*sys.argv[1:])
