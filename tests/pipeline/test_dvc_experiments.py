"""Experiments and the Table III sweep on a copy of the run's reproduced demo project: `dvc exp run` beside the
committed main, `sales-ability table3`, each grouping its MLflow runs, and a bad experiment param refused before
any output is touched. The long run comes first (see test_retraining_dag.py)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_in_project as _run


def test_experiments_compare_with_main_in_dvc_and_group_their_runs_in_mlflow(reproduced_project: tuple[Path, dict],
                                                                            tmp_path: Path) -> None:
    """`dvc exp run` beside the committed main: exp show and metrics diff read both, a clean clone is clean,
    and the experiment's stage runs are children of one MLflow run named after it."""
    root, env = reproduced_project
    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])

    def registry() -> tuple:
        model = client.get_registered_model("sales-ability")
        return (sorted(model.aliases.items()), sorted((v.version, v.run_id) for v in client.search_model_versions("name='sales-ability'")))

    before = registry()
    run = _run(["dvc", "exp", "run", "--temp", "-n", "coverage-80", "-S", "intervals.coverage=0.8"], root, env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert registry() == before  # an experiment leaves every registered version and alias as it was
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], root, env).stdout)
    baseline = next(entry for entry in shown if entry.get("experiments"))  # HEAD, after the workspace's entry
    main = baseline["data"]
    exp = next(e for e in baseline["experiments"] if e["name"] == "coverage-80")["revs"][0]["data"]
    for data in (main, exp):  # metrics of main and of the experiment, not `!`
        assert data["metrics"]["metrics/evaluate.json"]["data"]["test"]["mean_accuracy"] > 0
    assert exp["params"]["params.yaml"]["data"]["intervals"]["coverage"] == 0.8
    diff = _run(["dvc", "metrics", "diff", "HEAD", "coverage-80", "--json"], root, env)
    nominal = json.loads(diff.stdout)["metrics/evaluate.json"]["test.intervals.nominal"]
    assert (nominal["old"], nominal["new"]) == (0.9, 0.8), diff.stdout[-2000:]
    plots = _run(["dvc", "plots", "diff", "HEAD", "coverage-80", "-o", str(tmp_path / "plots")], root, env)
    assert plots.returncode == 0 and (tmp_path / "plots/index.html").is_file(), plots.stderr[-2000:]

    clone = tmp_path / "clone"  # a clean clone, its DVC cache shared with the project's: nothing to run
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    for cmd in (["dvc", "cache", "dir", "--local", str(root / ".dvc/cache")], ["dvc", "checkout", "-q"]):
        assert _run(cmd, clone, env).returncode == 0
    status = _run(["dvc", "status"], clone, env)
    assert "up to date" in status.stdout, status.stdout

    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["sales-ability"], filter_string="tags.`dvc.experiment` = 'coverage-80'")
    stages = runs[runs["tags.stage"].notna()]
    assert set(stages["tags.stage"]) == {"evaluate", "rate", "validate_outcomes"}  # only what the param feeds re-ran
    parent = runs[runs["tags.mlflow.runName"] == "dvc exp coverage-80"]
    assert len(parent) == 1 and set(stages["tags.mlflow.parentRunId"]) == {parent["run_id"].iloc[0]}


def test_table3_sweep_two_tiny_presets(reproduced_project: tuple[Path, dict]) -> None:
    root, env = reproduced_project
    run = _run([str(Path(sys.executable).parent / "sales-ability"), "table3", "--presets", "tiny,small", "--epochs", "1"], root, env)
    assert run.returncode == 0, run.stderr[-2000:]
    table = json.loads((root / "metrics/table3.json").read_text())["table3"]
    assert set(table) == {"tiny", "small"}
    assert table["small"]["parameters"] > table["tiny"]["parameters"]

    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["sales-ability"])
    parent = runs[runs["tags.mlflow.runName"] == "table3"].iloc[0]
    children = runs[runs["tags.mlflow.parentRunId"] == parent["run_id"]]
    assert sorted(children["tags.mlflow.runName"]) == ["table3/small", "table3/tiny"]
    assert children["metrics.mean_accuracy"].between(0, 1).all()


def test_a_bad_experiment_param_fails_before_any_output_is_removed(reproduced_project: tuple[Path, dict]) -> None:
    root, env = reproduced_project
    kept = {p: (root / p).stat().st_mtime_ns for p in ("models/knowledge_base.json", "models/train/model.keras",
                                                        "reports/rated_test.csv")}
    try:
        run = _run(["dvc", "exp", "run", "-S", "train.epochs=abc"], root, env)
        assert run.returncode != 0
        assert "check_params: error: params.yaml: invalid parameters" in run.stderr and "train.epochs: Input should be a valid integer" in run.stderr, run.stderr[-2000:]
        assert {p: (root / p).stat().st_mtime_ns for p in kept} == kept  # every output still there, untouched
    finally:
        subprocess.run(["git", "checkout", "HEAD", "--", "params.yaml"], cwd=root)
