"""Run one DAG with ``dag.test()`` in this process and print a JSON summary (used by the DAG tests).

Usage: python dag_runner.py DAG_ID CONF_JSON [keep-retries] [ANSWER_JSON]  (AIRFLOW_HOME and friends come from
the environment), or python dag_runner.py --many RUNS_JSON: several runs in one process (one Airflow start-up),
each ``{"dag_id", "conf", "keep_retries", "env", "before", "after"}`` with ``env`` the SALES_ABILITY_* variables of
that run only (the DAG files and their settings are parsed again for each run), ``before`` the ``[source, target]``
files copied in before the run (what arrives between two runs; a source of null writes ``{}``) and ``after`` the
``[source, target]`` files or folders copied out after it (what the run left, for the test to read later).

Retries are set to 0 (a failing task fails the test now instead of waiting out its backoff) unless
``keep-retries`` is given: then a task that fails at once despite its retries shows it needs none.

``ANSWER_JSON`` (``{"user": ..., "chosen_options": [...], "params_input": {...}}``) answers every
human-in-the-loop task the run parks, the way a person does through the REST API: the API's own route
function (``update_hitl_detail``), called with that user, so ``dag.test()`` resumes the task.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def answer_hitl(dag_id: str, answer: dict, stop) -> None:
    """Answer each parked human-in-the-loop task of ``dag_id`` through the REST API's route function."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    user = SimpleAuthManagerUser(username=answer["user"], role="admin")
    payload = UpdateHITLDetailPayload(chosen_options=answer["chosen_options"], params_input=answer.get("params_input", {}))
    while not stop.wait(1):
        with create_session() as session:
            parked = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                        TaskInstance.state == TaskInstanceState.AWAITING_INPUT).all()
            for ti in parked:
                update_hitl_detail(dag_id=dag_id, dag_run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index,
                                   update_hitl_detail_payload=payload, user=user, session=session)
            session.commit()


def main(dag_id: str, conf: str, retries: str = "", answer: str = "") -> None:
    print("DAG_RESULT " + json.dumps(run(dag_id, conf, retries, answer)))


def main_many(runs: str) -> None:
    """Each run with its own environment, the DAG files parsed again under it."""
    import os
    import shutil

    for spec in json.loads(runs):
        for source, target in spec.get("before", []):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                Path(target).write_text("{}")
            else:
                shutil.copy(source, target)
        saved = {name: os.environ.get(name) for name in spec.get("env", {})}
        os.environ.update(spec.get("env", {}))
        sys.modules.pop("sales_ability_common", None)  # its SETTINGS are read when the DAG files import it
        try:
            result = run(spec["dag_id"], json.dumps(spec["conf"]), "keep-retries" if spec.get("keep_retries") else "")
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        for source, target in spec.get("after", []):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            if Path(source).is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy(source, target)
        print("DAG_RESULT " + json.dumps(result))


def run(dag_id: str, conf: str, retries: str = "", answer: str = "") -> dict:
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
    import threading

    stop = threading.Event()
    if answer:
        threading.Thread(target=answer_hitl, args=(dag_id, json.loads(answer), stop), daemon=True).start()
    try:
        dag_run = dag.test(run_conf=json.loads(conf))
    finally:
        stop.set()
    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id).all()
        states = {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in tis}
        tries = {ti.task_id: ti.try_number for ti in tis if ti.map_index < 0}
        mapped = Counter(ti.task_id for ti in tis if ti.map_index >= 0)
    return {"state": str(dag_run.state), "tasks": states, "mapped": dict(mapped), "tries": tries,
            "configured_retries": configured}


if __name__ == "__main__":
    if sys.argv[1] == "--many":
        main_many(sys.argv[2])
    else:
        main(*sys.argv[1:])
