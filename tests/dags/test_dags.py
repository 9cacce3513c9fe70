"""The Airflow DAGs, for real: DagBag import, and dag.test() runs on SQLite in a temporary AIRFLOW_HOME."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, run_dags


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
            for heavy in ("tensorflow", "keras", "mlflow", "dvc", "cv2", "sales_ability.model.network", "sales_ability.serving.scoring"):
                assert f" {heavy}" not in line, f"{path.name}: {line}"


@pytest.fixture(scope="module")
def champion(airflow_env: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model registered as champion in the DAG tests' MLflow store, and a knowledge base (made in this
    worker, whose Keras is loaded already: a process of its own would import TensorFlow again)."""
    from mlflow import MlflowClient

    from sales_ability.config import FeaturizeParams
    from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base
    from sales_ability.model.network import build_model
    from sales_ability.model.training import save_model
    from sales_ability.registry.models import save_featurize_params
    from sales_ability.registry.tracking import EXPERIMENT
    from sales_ability.serving.mlflow_model import build_mlflow_model
    from tests.registry_helpers import approve_as_champion

    tmp, tracking = tmp_path_factory.mktemp("champion"), airflow_env["MLFLOW_TRACKING_URI"]
    save_model(build_model("tiny"), tmp / "model.keras")
    save_featurize_params(tmp, FeaturizeParams(clip_seconds=4.0))  # the demo's 4.3 s clips: one segment each
    save_knowledge_base(paper_knowledge_base(), tmp / "kb.json")
    built = build_mlflow_model(tmp, tmp / "kb.json", "# tiny", tmp / "built", ["a.mp4"])
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    run = client.create_run(experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT))
    client.log_artifacts(run.info.run_id, str(built), artifact_path="model")
    client.set_terminated(run.info.run_id)
    assert approve_as_champion(run.info.run_id, tracking=tracking)
    return tmp


def test_batch_scoring_maps_shards_and_never_scores_twice(airflow_env: dict, champion: Path, demo_dir: Path, tmp_path: Path) -> None:
    """Three runs in one Airflow process: the first scores, the second finds nothing new, the third scores what
    arrived in between (the database and reports each run left are copied out for the checks)."""
    inbox, outbox, seen = tmp_path / "inbox", tmp_path / "outbox", tmp_path / "after"
    (inbox / "sub").mkdir(parents=True)
    for name in ("p000_c0", "p000_c1", "p001_c0"):
        shutil.copy(demo_dir / f"{name}.mp4", inbox / f"{name}.mp4")
    shutil.copy(demo_dir / "p000_c0.mp4", inbox / "sub" / "renamed_copy.mp4")
    (inbox / "broken.mp4").write_text("not a video")
    applicant = inbox / "ann"  # an applicant folder still being written: no complete.json yet
    applicant.mkdir()
    shutil.copy(demo_dir / "p002_c0.mp4", applicant / "answer_1.mp4")
    conf = {"project_dir": str(tmp_path), "inbox": str(inbox), "outbox": str(outbox),
            "knowledge_base": str(champion / "kb.json"), "shard_size": 2}
    database = tmp_path / "results.db"  # the project's results database (no SALES_ABILITY_DATABASE_URL)
    arrivals = [[str(demo_dir / "p002_c1.mp4"), str(applicant / "answer_2.mp4")],
                [None, str(applicant / "complete.json")],  # the website writes this last
                [str(demo_dir / "p001_c1.mp4"), str(inbox / "late_arrival.mp4")]]
    runs = [{"dag_id": "sales_ability_batch_scoring", "conf": conf, "before": before,
             "after": [[str(database), str(seen / f"{n}.db")], [str(outbox / "reports"), str(seen / f"reports_{n}")]]}
            for n, before in enumerate([[], [], arrivals], start=1)]
    first, second, third = run_dags(runs, airflow_env)

    assert first["state"] == "success", first
    assert first["mapped"]["score_shard"] == 2  # 4 distinct contents in shards of 2; the folder waits
    segments, applicants, videos, rejects = _tables(f"sqlite:///{seen / '1.db'}")
    assert sorted(segments["clip_id"]) == ["p000_c0_c0", "p000_c1_c0", "p001_c0_c0"]  # the renamed copy is not scored again
    assert segments["sales_score"].between(1, 10).all() and (segments["model_version"] == "1").all()
    assert segments["face_share"].between(0.5, 1).all() and segments["strip_png"].notna().all()
    assert sorted(applicants["applicant_id"]) == ["p000_c0", "p000_c1", "p001_c0"]
    assert rejects["source"].str.endswith("broken.mp4").tolist() == [True]
    assert sorted(videos["outcome"]) == ["rejected", "scored", "scored", "scored"]
    (report,) = (seen / "reports_1").glob("*.html")  # the run's own report: the applicants it scored
    html = report.read_text()
    assert "never replaces" in html and "broken.mp4" in html and "p001_c0" in html
    assert html.count('src="data:image/png;base64,') == 3  # each segment's face strip
    assert not list(outbox.glob("shards/*/faces"))  # merged shards keep no face tensors

    assert second["state"] == "success"
    assert second["mapped"].get("score_shard", 0) == 0
    assert [len(t) for t in _tables(f"sqlite:///{seen / '2.db'}")] == [3, 3, 4, 1]
    assert [p.name for p in (seen / "reports_2").glob("*.html")] == [report.name]  # nothing scored, no report

    assert third["mapped"]["score_shard"] == 2  # the now complete folder (2 videos), then the loose video
    url = f"sqlite:///{database}"
    applicants = _tables(url)[1].set_index("applicant_id")
    assert applicants.loc["ann", "answers"] == 2 and len(applicants) == 5
    assert len(list((outbox / "reports").glob("*.html"))) == 2  # one per run that scored someone

    shutil.copy(demo_dir / "p002_c2.mp4", applicant / "answer_3.mp4")  # a late answer: scored once means once
    from sales_ability.operations.batch import list_new_applicants

    assert list_new_applicants(inbox, outbox, 2, database_url=url) == {"shards": [], "waiting": [], "late": ["ann"],
                                                                       "rejected": [], "carried_over": 0}
    import mlflow

    mlflow.set_tracking_uri(airflow_env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["sales-ability-batch"])
    assert len(runs) == 2 and runs["metrics.applicants_new"].sum() == 5
    client = mlflow.MlflowClient(airflow_env["MLFLOW_TRACKING_URI"])
    assert all(not client.list_artifacts(r) for r in runs["run_id"])  # aggregates only: no rows, no faces


def _tables(url: str) -> list[pd.DataFrame]:
    from sales_ability.results import store as db

    with db.engine(url).connect() as conn:
        return [db.read_table(conn, t) for t in (db.segments, db.applicants, db.videos, db.rejects)]


def test_configuration_errors_fail_at_once_are_notified_and_a_fresh_install_is_green(
        airflow_env: dict, tmp_path: Path, demo_dir: Path, alert_sinks: dict) -> None:
    """One Airflow process, seven runs: a fresh install's batch scoring (no inbox, knowledge base or model yet) is
    green with nothing to score; a missing explicit inbox or knowledge base, a missing project folder, a folder
    without dvc.yaml and a remote the project does not define each fail at once, retries configured and unused;
    the missing project folder's failure is notified by webhook and e-mail (the only run with the alert settings);
    a retraining with nothing new ingests, skips the repro and proposes nothing."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    runs = [{"dag_id": "sales_ability_batch_scoring", "conf": {}, "keep_retries": True,
             "env": {"SALES_ABILITY_PROJECT": str(fresh)}}]
    for missing in ("inbox", "knowledge_base"):
        folder = tmp_path / f"missing_{missing}"
        (folder / "inbox").mkdir(parents=True)
        shutil.copy(demo_dir / "p000_c0.mp4", folder / "inbox" / "a.mp4")
        conf = {"project_dir": str(folder), "inbox": str(folder / "inbox"), "outbox": str(folder / "outbox"),
                "knowledge_base": str(folder / "kb.json"), "shard_size": 2}
        if missing == "inbox":
            conf["inbox"] = str(folder / "no_such_inbox")
            (folder / "kb.json").write_text("{}")
        runs.append({"dag_id": "sales_ability_batch_scoring", "conf": conf, "keep_retries": True})
    broken = ("no_project", "no_dvc_yaml", "unknown_remote")
    for name in broken:
        project, env = tmp_path / name / "project", {}
        if name != "no_project":
            project.mkdir(parents=True)
            subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "--no-scm", "-q"], cwd=project, check=True)
        if name == "unknown_remote":
            (project / "dvc.yaml").write_text("stages: {}\n")
            env["SALES_ABILITY_DVC_REMOTE"] = "nowhere"
        if name == "no_project":
            env.update(alert_sinks["env"])
        runs.append({"dag_id": "sales_ability_retraining", "conf": {"project_dir": str(project)}, "keep_retries": True,
                     "env": env})
    nothing_new = tmp_path / "nothing_new"  # a DVC project as recorded, and a website with nobody complete yet
    (nothing_new / "website").mkdir(parents=True)
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "--no-scm", "-q"], cwd=nothing_new, check=True)
    (nothing_new / "dvc.yaml").write_text("stages: {}\n")
    runs.append({"dag_id": "sales_ability_retraining", "conf": {"project_dir": str(nothing_new)}, "keep_retries": True,
                 "env": {"SALES_ABILITY_COLLECT_DATA": str(nothing_new / "website")}})
    results = run_dags(runs, airflow_env)
    fresh_install, batch_errors, retraining_errors, unchanged = results[0], results[1:3], results[3:6], results[6]

    assert fresh_install["state"] == "success", fresh_install
    assert fresh_install["tasks"]["list_new_applicants"] == "success"
    assert fresh_install["tasks"]["merge_shards"] == "skipped" and fresh_install["tasks"]["log_to_mlflow"] == "skipped"
    assert fresh_install["mapped"].get("score_shard", 0) == 0

    for result in batch_errors:
        assert result["state"] == "failed", result
        assert result["tasks"]["list_new_applicants"] == "failed"
        assert result["configured_retries"]["list_new_applicants"] >= 1  # retries are configured...
        assert result["tries"]["list_new_applicants"] == 1  # ...and none was used: a configuration error fails at once

    for name, result in zip(broken, retraining_errors, strict=True):
        assert result["state"] == "failed", (name, result)
        failed = "pull_data" if name == "unknown_remote" else "champion_before"
        assert result["tasks"][failed] == "failed" and result["tries"][failed] == 1, (name, result)
        assert result["configured_retries"][failed] >= 1
        assert result["tasks"]["reproduce"] in ("upstream_failed", "None"), (name, result)  # nothing was reproduced

    # the missing project's failure, notified: one webhook post and one e-mail for its failed task
    task_posts = [p for p in alert_sinks["posts"] if p["task_id"] == "champion_before"]
    assert len(task_posts) == 1, alert_sinks["posts"]
    post = task_posts[0]
    assert post["dag_id"] == "sales_ability_retraining" and "project folder not found" in post["reason"]
    assert post["text"].startswith("[sales-ability] sales_ability_retraining: task champion_before failed")
    mails = [m for m in alert_sinks["mails"] if "task champion_before failed" in m["Subject"]]
    assert len(mails) == 1 and mails[0]["To"] == "mlops@example.test"
    body = "".join(part.get_payload(decode=True).decode() for part in mails[0].walk() if part.get_content_maintype() == "text")
    assert "project folder not found" in body and "<pre>" in body  # Airflow's SmtpNotifier, the notice's own text

    # nothing new: the ingest records the (empty) collected folder, `dvc status` is clean, nothing is trained
    assert unchanged["state"] == "success", unchanged
    assert unchanged["tasks"]["ingest_collected"] == "success" and (nothing_new / "data/raw/collected.dvc").is_file()
    assert unchanged["tasks"]["reproduce"] == "skipped" and unchanged["tasks"]["propose_candidate"] == "skipped"


def test_dags_take_tracking_uri_and_model_name_from_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Computed per project, never written to os.environ (a long-lived worker may serve several projects)."""
    import os

    from sales_ability.errors import ConfigError
    from sales_ability.operations.batch import batch_model_uri
    from sales_ability.registry.models import project_model_name
    from sales_ability.registry.tracking import project_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert project_tracking_uri(tmp_path / "a") == f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}"
    assert project_tracking_uri(tmp_path / "b") == f"sqlite:///{tmp_path / 'b' / 'mlflow.db'}"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")  # a deployment's server wins
    assert project_tracking_uri(tmp_path / "a") == "http://mlflow:5000"
    assert project_model_name(tmp_path) == "sales-ability"  # no params.yaml: the param's default
    (tmp_path / "params.yaml").write_text("registry:\n  model_name: sales-ability-eu\n")
    assert project_model_name(tmp_path) == "sales-ability-eu"
    assert batch_model_uri("", tmp_path) == "models:/sales-ability-eu@champion"  # the batch DAG's default
    assert batch_model_uri("models:/other/3", tmp_path) == "models:/other/3"
    (tmp_path / "params.yaml").write_text("registry:\n  model_nam: typo\n")
    with pytest.raises(ConfigError, match="model_nam"):
        project_model_name(tmp_path)


@pytest.fixture()
def alert_sinks():
    """A webhook and an SMTP server on loopback, collecting what the failure notifier sends."""
    from tests.alert_sinks import smtp_sink, webhook_sink

    with webhook_sink() as (url, posts), smtp_sink() as (relay, mails):
        yield {"env": {"SALES_ABILITY_ALERT_WEBHOOK": url,  # the e-mail goes through an Airflow connection
                       "AIRFLOW_CONN_SALES_ABILITY_SMTP": f"smtp://{relay}?disable_ssl=true&disable_tls=true",
                       "SALES_ABILITY_ALERT_EMAIL_TO": "mlops@example.test"}, "posts": posts, "mails": mails}
