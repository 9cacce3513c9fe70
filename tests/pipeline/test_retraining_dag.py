"""The nightly retraining DAG: a run by Airflow (`dag.test()`) on a copy of the run's reproduced demo project, its
configuration errors, its bounds and its one `dvc repro` at a time. The long run comes first: xdist hands a worker
its next file when two tests of this one are left, so the experiments' file goes to another worker."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_dag


def test_retraining_reruns_the_stale_stage_and_publishes_the_new_champion(
    airflow_env: dict, reproduced_project: tuple[Path, dict], tmp_path: Path
) -> None:
    """The DAG's wiring on this file's copy of the reproduced project: the website's one new participant is ingested
    into data/raw/collected (a new DVC version, recorded on the run's branch); only `evaluate` (and `rate`) are
    stale (the intervals' nominal changed) and the registry has no champion (as on a fresh one): the DAG
    re-evaluates, proposes the candidate, waits for a person, who approves through the HITL REST route, then
    moves the champion and publishes the Asset; nothing is trained again."""
    from mlflow import MlflowClient

    from sales_ability.collect.storage import ParticipantStore
    from tests.participants import QUESTIONNAIRE, website_participant

    project, project_env = reproduced_project
    website = ParticipantStore(tmp_path / "website")
    newcomer = website_participant(website, sorted((project / "data/raw/demo").glob("*.mp4"))[0], QUESTIONNAIRE)
    env = {**airflow_env, "MLFLOW_TRACKING_URI": project_env["MLFLOW_TRACKING_URI"],
           "SALES_ABILITY_COLLECT_DATA": str(website.root)}
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    versions = len(client.search_model_versions("name='sales-ability'"))
    client.delete_registered_model_alias("sales-ability", "champion")
    original, lock = (project / "params.yaml").read_text(), (project / "dvc.lock").read_text()
    params = yaml.safe_load(original)
    params["intervals"]["coverage"] = 0.85
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    trained = (project / "models/finetune/model.keras").stat().st_mtime_ns
    answer = {"user": "rita reviewer", "chosen_options": ["Approve"],
              "params_input": {"reason": "coverage and agreement hold on the selection people", "override_gates": True}}
    result = run_dag("sales_ability_retraining", {"project_dir": str(project)}, env, answer=answer)
    assert result["state"] == "success", result
    assert result["tasks"]["champion_before"] == "success"
    assert result["tasks"]["pull_data"] == "skipped"  # no DVC remote here
    assert result["tasks"]["ingest_collected"] == "success"
    assert [p.name for p in (project / "data/raw/collected").iterdir()] == [newcomer]
    assert result["tasks"]["reproduce"] == "success"
    for task in ("propose_candidate", "review_candidate", "apply_decision"):
        assert result["tasks"][task] == "success", result
    assert result["tasks"]["publish_champion"] == "success"  # the champion changed -> Asset event
    assert result["tasks"]["push_outputs"] == "skipped" and result["tasks"]["record_lock"] == "success"
    git = ["git", "-C", str(project)]
    branches = subprocess.run([*git, "branch", "--list", "retraining/*"], capture_output=True, text=True).stdout.split()
    assert len(branches) == 1  # dvc.lock and the metrics recorded on a branch of their own
    recorded = subprocess.run([*git, "show", f"{branches[0]}:dvc.lock"], capture_output=True, text=True).stdout
    assert recorded == (project / "dvc.lock").read_text() != lock
    assert subprocess.run([*git, "show", f"{branches[0]}:metrics/evaluate.json"], capture_output=True,
                          text=True).stdout == (project / "metrics/evaluate.json").read_text()
    assert subprocess.run([*git, "show", "HEAD:dvc.lock"], capture_output=True, text=True).stdout == lock  # HEAD untouched
    version = subprocess.run([*git, "show", f"{branches[0]}:data/raw/collected.dvc"], capture_output=True, text=True)
    assert version.stdout == (project / "data/raw/collected.dvc").read_text() != ""  # the ingest's version beside it
    champion = client.get_model_version_by_alias("sales-ability", "champion")
    assert int(champion.version) == versions + 1
    assert champion.tags["decided_by"] == "rita reviewer" and "selection" in champion.tags["decision_reason"]
    assert (project / "models/finetune/model.keras").stat().st_mtime_ns == trained  # only evaluate re-ran
    status = subprocess.run(["dvc", "status"], cwd=project, env=project_env, capture_output=True, text=True)
    assert "up to date" in status.stdout, status.stdout


def test_retraining_configuration_errors_name_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sales_ability.operations.retraining import (
        RetrainingConfigError,
        check_project,
        pull_remote,
    )

    with pytest.raises(RetrainingConfigError, match=f"{tmp_path / 'gone'}: project folder not found"):
        check_project(tmp_path / "gone")
    with pytest.raises(RetrainingConfigError, match=f"{tmp_path / 'dvc.yaml'}: not found"):
        check_project(tmp_path)
    monkeypatch.setenv("SALES_ABILITY_DVC_REMOTE", "nowhere")
    with pytest.raises(RetrainingConfigError, match=r"SALES_ABILITY_DVC_REMOTE=nowhere: no such DVC remote .*\(known: minio\)"):
        pull_remote(REPO)


def test_dags_bound_every_task_and_keep_one_repro_at_a_time(airflow_env: dict) -> None:
    code = (
        "import json\nfrom airflow.dag_processing.dagbag import DagBag\n"
        f"b = DagBag({str(REPO / 'dags')!r})\n"
        "print('BAG ' + json.dumps({d.dag_id: {'dagrun_timeout': d.dagrun_timeout.total_seconds(), "
        "'dag_callback': bool(d.on_failure_callback), 'tasks': {t.task_id: {'timeout': t.execution_timeout.total_seconds(),"
        " 'retries': t.retries, 'pool': t.pool, 'callback': bool(t.on_failure_callback)} for t in d.tasks}} "
        "for d in b.dags.values()}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=airflow_env, capture_output=True, text=True, timeout=600)
    bag = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("BAG ")).removeprefix("BAG "))
    for dag in bag.values():
        assert dag["dag_callback"] and 0 < dag["dagrun_timeout"] < 24 * 3600
        for task in dag["tasks"].values():
            assert task["callback"] and 0 < task["timeout"] <= dag["dagrun_timeout"]
    retraining = bag["sales_ability_retraining"]["tasks"]
    assert retraining["reproduce"]["pool"] == "sales_ability_training" and retraining["reproduce"]["retries"] == 0
    assert retraining["pull_data"]["retries"] >= 1 and retraining["push_outputs"]["retries"] >= 1
    assert {t["pool"] for name, t in retraining.items() if name != "reproduce"} == {"default_pool"}
