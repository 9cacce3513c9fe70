"""The Airflow DAGs, for real: DagBag import, and dag.test() runs on SQLite in a temporary AIRFLOW_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

RUNNER = Path(__file__).with_name("dag_runner.py")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    return env


def run_dag(dag_id: str, conf: dict, env: dict, keep_retries: bool = False) -> dict:
    args = [sys.executable, str(RUNNER), dag_id, json.dumps(conf), *(["keep-retries"] if keep_retries else [])]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("DAG_RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(lines[-1].removeprefix("DAG_RESULT "))


def test_dagbag_imports_with_tags_retries_and_docs(airflow_env: dict) -> None:
    code = (
        "import json\nfrom airflow.dag_processing.dagbag import DagBag\n"
        f"b = DagBag({str(REPO / 'dags')!r})\n"
        "print('BAG ' + json.dumps({'errors': {k: str(v) for k, v in b.import_errors.items()}, 'dags': {d.dag_id: "
        "{'tags': sorted(d.tags), 'retries': d.default_args.get('retries'), 'doc': bool(d.doc_md), 'owner': d.owner,"
        " 'max_active_runs': d.max_active_runs} for d in b.dags.values()}}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=airflow_env, capture_output=True, text=True, timeout=600)
    bag = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("BAG ")).removeprefix("BAG "))
    assert bag["errors"] == {}
    assert set(bag["dags"]) == {"sales_ability_retraining", "sales_ability_batch_scoring"}
    for dag in bag["dags"].values():
        assert "sales-ability" in dag["tags"] and dag["retries"] >= 1 and dag["doc"] and dag["owner"] == "mlops"
        assert dag["max_active_runs"] == 1


def test_dag_files_keep_heavy_imports_inside_tasks() -> None:
    for path in (REPO / "dags").glob("*.py"):
        top_level = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        for line in top_level:
            for heavy in ("tensorflow", "keras", "mlflow", "dvc", "cv2", "sales_ability.model", "sales_ability.scoring"):
                assert f" {heavy}" not in line, f"{path.name}: {line}"


@pytest.fixture(scope="module")
def champion(airflow_env: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model registered as champion in the DAG tests' MLflow store, and a knowledge base."""
    tmp = tmp_path_factory.mktemp("champion")
    code = f"""
import mlflow
from sales_ability.model import build_model
from sales_ability.training import save_model
from sales_ability.registry import register_and_promote
from sales_ability.knowledge_base import paper_knowledge_base, save_knowledge_base
from sales_ability.tracking import EXPERIMENT
save_model(build_model("tiny"), {str(tmp / 'model.keras')!r})
save_knowledge_base(paper_knowledge_base(), {str(tmp / 'kb.json')!r})
mlflow.set_experiment(EXPERIMENT)
with mlflow.start_run() as run:
    mlflow.log_artifact({str(tmp / 'model.keras')!r}, artifact_path="model")
print(register_and_promote(run.info.run_id, "model", 0.9, lambda uri: 0.0, 0.001, "# tiny").promoted)
"""
    proc = subprocess.run([sys.executable, "-c", code], env=airflow_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "True" in proc.stdout, proc.stderr[-3000:]
    return tmp


def test_batch_scoring_maps_shards_and_never_scores_twice(airflow_env: dict, champion: Path, demo_dir: Path, tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    (inbox / "sub").mkdir(parents=True)
    for name in ("p000_c0", "p000_c1", "p001_c0"):
        shutil.copy(demo_dir / f"{name}.mp4", inbox / f"{name}.mp4")
    shutil.copy(demo_dir / "p000_c0.mp4", inbox / "sub" / "renamed_copy.mp4")
    (inbox / "broken.mp4").write_text("not a video")
    conf = {"project_dir": str(tmp_path), "inbox": str(inbox), "outbox": str(outbox),
            "knowledge_base": str(champion / "kb.json"), "shard_size": 2}

    first = run_dag("sales_ability_batch_scoring", conf, airflow_env)
    assert first["state"] == "success", first
    assert first["mapped"]["score_shard"] == 2  # 4 distinct contents in shards of 2
    results = pd.read_parquet(outbox / "results.parquet")
    assert sorted(results["clip_id"]) == ["p000_c0", "p000_c1", "p001_c0"]  # the renamed copy is not scored again
    assert results["sales_score"].between(1, 10).all() and (results["model_version"] == "1").all()
    rejects = pd.read_csv(outbox / "rejects.csv")
    assert rejects["source"].str.endswith("broken.mp4").tolist() == [True]
    report = (outbox / "report.html").read_text()
    assert "never replaces" in report and "broken.mp4" in report and "p001_c0" in report

    second = run_dag("sales_ability_batch_scoring", conf, airflow_env)
    assert second["state"] == "success"
    assert second["mapped"].get("score_shard", 0) == 0
    again = pd.read_parquet(outbox / "results.parquet")
    assert len(again) == 3 and len(pd.read_csv(outbox / "rejects.csv")) == 1

    shutil.copy(demo_dir / "p002_c0.mp4", inbox / "late_arrival.mp4")
    third = run_dag("sales_ability_batch_scoring", conf, airflow_env)
    assert third["mapped"]["score_shard"] == 1
    assert len(pd.read_parquet(outbox / "results.parquet")) == 4


@pytest.mark.xdist_group("reproduced_project")  # with the pipeline tests: one dvc repro per session
def test_retraining_reruns_the_stale_stage_and_publishes_the_new_champion(
    airflow_env: dict, reproduced_project: tuple[Path, dict]
) -> None:
    """The DAG's wiring on the session's reproduced project: only `evaluate` is stale (a registry param
    changed) and the registry has no champion (as on a fresh one): the DAG re-evaluates, registers and
    promotes a new version, and publishes the champion Asset; nothing is trained again."""
    from mlflow import MlflowClient

    project, project_env = reproduced_project
    env = {**airflow_env, "MLFLOW_TRACKING_URI": project_env["MLFLOW_TRACKING_URI"]}
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    versions = len(client.search_model_versions("name='sales-ability'"))
    client.delete_registered_model_alias("sales-ability", "champion")
    original, lock = (project / "params.yaml").read_text(), (project / "dvc.lock").read_text()
    params = yaml.safe_load(original)
    params["registry"]["promotion_margin"] = 0.002
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    trained = (project / "models/finetune/model.keras").stat().st_mtime_ns
    try:
        result = run_dag("sales_ability_retraining", {"project_dir": str(project)}, env)
        assert result["state"] == "success", result
        assert result["tasks"]["champion_before"] == "success"
        assert result["tasks"]["pull_data"] == "skipped"  # no DVC remote here
        assert result["tasks"]["reproduce"] == "success"
        assert result["tasks"]["publish_champion"] == "success"  # the champion changed -> Asset event
        champion = client.get_model_version_by_alias("sales-ability", "champion")
        assert int(champion.version) == versions + 1
        assert (project / "models/finetune/model.keras").stat().st_mtime_ns == trained  # only evaluate re-ran
        status = subprocess.run(["dvc", "status"], cwd=project, env=project_env, capture_output=True, text=True)
        assert "up to date" in status.stdout, status.stdout
    finally:  # the project is shared by the session's tests: put params and lock back (outputs are unchanged)
        (project / "params.yaml").write_text(original)
        (project / "dvc.lock").write_text(lock)


def test_batch_scoring_on_a_fresh_install_is_green_with_nothing_to_score(airflow_env: dict, tmp_path: Path) -> None:
    """The default params of a fresh install: no inbox folder yet, no knowledge base, no model."""
    env = {**airflow_env, "SALES_ABILITY_PROJECT": str(tmp_path)}
    result = run_dag("sales_ability_batch_scoring", {}, env, keep_retries=True)
    assert result["state"] == "success", result
    assert result["tasks"]["list_new_videos"] == "success"
    assert result["tasks"]["merge_shards"] == "skipped" and result["tasks"]["log_to_mlflow"] == "skipped"
    assert result["mapped"].get("score_shard", 0) == 0


@pytest.mark.parametrize("missing", ["inbox", "knowledge_base"])
def test_missing_explicit_folder_or_knowledge_base_fails_at_once(airflow_env: dict, tmp_path: Path, demo_dir: Path,
                                                                   missing: str) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(demo_dir / "p000_c0.mp4", inbox / "a.mp4")
    conf = {"project_dir": str(tmp_path), "inbox": str(inbox), "outbox": str(tmp_path / "outbox"),
            "knowledge_base": str(tmp_path / "kb.json"), "shard_size": 2}
    if missing == "inbox":
        conf["inbox"] = str(tmp_path / "no_such_inbox")
        (tmp_path / "kb.json").write_text("{}")
    result = run_dag("sales_ability_batch_scoring", conf, airflow_env, keep_retries=True)
    assert result["state"] == "failed", result
    assert result["tasks"]["list_new_videos"] == "failed"
    assert result["configured_retries"]["list_new_videos"] >= 1  # retries are configured...
    assert result["tries"]["list_new_videos"] == 1  # ...and none was used: a configuration error fails at once
