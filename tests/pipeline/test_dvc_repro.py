"""`dvc repro` of the whole pipeline, for real, in a temporary git + DVC repository on demo data."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from sales_ability.data.face_tensors import read_face_tensors
from sales_ability.traits import TRAITS
from tests.conftest import run_in_project as _run

# The run's one `dvc repro` (tests/conftest.py::reproduced_template) is built by the first worker to ask, and
# copied for each file that uses it: the retraining DAG (test_retraining_dag.py) and the experiments
# (test_dvc_experiments.py) change the project, and run on other workers at the same time.


def test_repro_builds_every_output(reproduced_project: tuple[Path, dict]) -> None:
    root, _ = reproduced_project
    assert len(list((root / "data/raw/demo").glob("*.mp4"))) == 12  # sizes: tests/conftest.py::_reproduce
    faces = read_face_tensors(root / "data/faces/train", columns=["clip_id", "split", "openness"])
    assert faces.num_rows == 12
    assert set(faces.column("split").to_pylist()) == {"train", "validation", "test"}
    feat = json.loads((root / "metrics/featurize.json").read_text())["featurize"]
    assert feat["kept"] == 12 and feat["rejected"] == 0
    # phase 2 reads a second, disjoint dataset in the website's layout; broken participants are left out
    import pandas as pd

    train_m = pd.read_csv(root / "data/manifests/train.csv", dtype=str)
    finetune_m = pd.read_csv(root / "data/manifests/finetune.csv", dtype=str)
    assert finetune_m["participant_id"].nunique() == 5 and finetune_m["source"].nunique() == 25
    per_answer = finetune_m.groupby("source").size()
    assert set(per_answer) == {1, 2}  # 16..26 s answers: one or two segments of ~15 s
    assert finetune_m["source"].str.contains(r"demo_collected/[A-Za-z0-9_-]{16}/answer_[1-5]\.webm$").all()
    assert finetune_m["clip_id"].str.fullmatch(r"[A-Za-z0-9_-]{16}_answer_[1-5]_c[01]").all()
    assert set(finetune_m["participant_id"]).isdisjoint(train_m["participant_id"])
    assert json.loads((root / "metrics/featurize_finetune.json").read_text())["featurize"]["kept"] == len(finetune_m)
    kb = json.loads((root / "models/knowledge_base.json").read_text())
    assert kb["knowledge_base"] == "fitted"
    rated = json.loads((root / "metrics/knowledge_base.json").read_text())["knowledge_base"]
    assert rated["rated"] >= 1 and 1 <= rated["mean_sales_score"] <= 10
    assert rated["traits_source"] == "model test predictions"
    for figure in ("trait_distributions.png", "sales_scores.png", "clusters.png"):
        assert (root / "plots/knowledge_base" / figure).stat().st_size > 1000


def test_repro_trains_evaluates_and_registers(reproduced_project: tuple[Path, dict]) -> None:
    root, env = reproduced_project
    for stage in ("train", "finetune"):
        assert (root / f"models/{stage}/model.keras").stat().st_size > 10_000
        history = (root / f"plots/{stage}_history.csv").read_text().splitlines()
        assert history[0].startswith("epoch,") and "val_mean_accuracy" in history[0]
    train = json.loads((root / "metrics/train.json").read_text())["train"]
    assert train["preset"] == "small" and train["epochs_run"] <= 2
    test = json.loads((root / "metrics/evaluate.json").read_text())["test"]
    for key in ("mean_accuracy", "baseline_mean_accuracy", "mse"):
        assert 0 <= test[key] <= 1
    for trait in ("openness", "neuroticism"):
        assert {"accuracy", "mse", "pearson", "concordance"} <= set(test[trait])
    import pandas as pd

    predictions = pd.read_csv(root / "reports/predictions_test.csv", dtype={"participant_id": str})
    assert len(predictions) == test["n"] and (predictions["split"] == "test").all()
    # the figures per person rest on the test people, and the reliability on those who gave two answers or more
    assert test["people"]["people"] == predictions["participant_id"].nunique() and test["people"]["segments"] == test["n"]
    answers = predictions.groupby("participant_id")["source"].nunique()
    assert test["reliability"]["people"] == int((answers >= 2).sum())
    # each clip's participant and groups travel through face tensors and predictions: rate re-joins nothing
    manifest = pd.read_csv(root / "data/manifests/finetune.csv", dtype={"participant_id": str}).set_index("clip_id")
    expected = manifest.loc[predictions["clip_id"], ["participant_id", "gender", "age_band"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(predictions[["participant_id", "gender", "age_band"]], expected, check_dtype=False)
    assert {"openness", "openness_low", "openness_high", "true_openness", "true_neuroticism"} <= set(predictions.columns)
    assert (predictions["openness_low"] <= predictions["openness"]).all()
    # the model's outputs for every labelled segment, which validate_outcomes reads instead of loading the model
    labelled = pd.read_parquet(root / "reports/predictions_labelled.parquet")
    assert sorted(labelled["clip_id"]) == sorted(manifest.index) and labelled["split"].nunique() >= 4
    raw = [f"model_{t}" for t in TRAITS] if "model_openness" in predictions.columns else list(TRAITS)
    test_rows = labelled[labelled["split"] == "test"].set_index("clip_id").loc[predictions["clip_id"], list(TRAITS)]
    np.testing.assert_allclose(test_rows.to_numpy(), predictions[raw].to_numpy(), atol=1e-6)
    intervals = test["intervals"]  # calibrated on the calibration people, measured on test, per segment and per applicant
    assert intervals["nominal"] == 0.9 and intervals["calibration_segments"] >= 1
    assert 0 <= intervals["segments"]["sales_score"]["coverage"] <= 1 and intervals["applicants"]["n"] >= 1
    applicants = pd.read_csv(root / "reports/applicants_test.csv", dtype={"applicant_id": str})
    assert sorted(applicants["applicant_id"]) == sorted(predictions["participant_id"].unique())
    assert (applicants["sales_score_low"] <= applicants["sales_score"]).all()
    calibration = json.loads((root / "models/finetune/calibration.json").read_text())
    assert calibration["split"] == "calibration"  # the intervals' people: apart from early stopping's (below)
    rate_deps = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["rate"]["deps"]
    assert not [d for d in rate_deps if "manifests" in d]
    audit = json.loads((root / "metrics/knowledge_base.json").read_text())["knowledge_base"]["audit"]  # per applicant
    assert audit["applicants"] == predictions["participant_id"].nunique() and {"sex", "race_ethnicity", "intersection"} <= set(audit)
    table = pd.read_csv(root / "reports/audit.csv")
    assert (table.groupby("dimension")["applicants"].sum() == audit["applicants"]).all()
    assert "scoring rate" in (root / "reports/audit.html").read_text()
    assert (root / "plots/evaluate/predicted_vs_true.png").stat().st_size > 1000

    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias("sales-ability", "champion")  # proposed, then approved by a person
    assert champion.tags["test_mean_accuracy"] == f"{test['mean_accuracy']:.6f}"
    assert "decision support" in champion.description.lower()
    assert champion.tags["decided_by"] == "test session" and champion.tags["decision"].startswith("approved")
    candidate = json.loads((root / "models/candidate.json").read_text())
    assert champion.run_id == candidate["run_id"] and champion.source == f"models:/{candidate['model_id']}"
    assert client.get_logged_model(candidate["model_id"]).source_run_id == candidate["run_id"]  # a LoggedModel
    assert int(champion.tags["selection_people"]) >= 1 and "challenger" not in client.get_registered_model("sales-ability").aliases
    compared = json.loads((root / "reports/promotion/comparison.json").read_text())
    test_people = set(predictions["participant_id"])
    assert compared["candidate"]["people"] >= 1 and compared["champion"] is None  # the first: nobody to compare with
    manifest_split = pd.read_csv(root / "data/manifests/finetune.csv", dtype={"participant_id": str})
    selection = set(manifest_split.loc[manifest_split["split"] == "selection", "participant_id"])
    stopping = set(manifest_split.loc[manifest_split["split"] == "validation", "participant_id"])
    assert compared["selection_split"] == "selection" and compared["candidate"]["people"] == len(selection)
    assert selection and not selection & (test_people | stopping)  # chosen on people test and training never see
    calibrated = set(calibration["participant_id"])
    assert calibrated and not calibrated & (stopping | selection | test_people)
    assert set(calibration["difficulty"]["participant_id"]) <= stopping  # the widths' scale: other people's
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["sales-ability"])
    assert {"train", "finetune", "evaluate", "fit_thresholds", "rate"} <= set(runs["tags.mlflow.runName"])
    train_run = runs[runs["tags.mlflow.runName"] == "train"].iloc[0]
    assert train_run["tags.git_commit"] and train_run["tags.dvc.data/faces/train"]
    history = client.get_metric_history(train_run["run_id"], "val_mean_accuracy")
    assert len(history) == train["epochs_run"]
    # params keep their types' spelling, None included; the manifests are the runs' datasets
    assert train_run["params.epochs"] == "2" and train_run["params.augment_flip"] in ("True", "False")
    assert "params.weights" in runs.columns and not pd.isna(train_run["params.weights"])
    inputs = {(d.dataset.name, [t.value for t in d.tags if t.key == "mlflow.data.context"][0])
              for d in client.get_run(train_run["run_id"]).inputs.dataset_inputs}
    assert inputs == {("train/train", "training"), ("train/validation", "validation")}
    # the stage runs of one `dvc repro` are children of its pipeline run, which spans them
    stage_runs = runs[runs["tags.stage"].isin(["train", "finetune", "evaluate", "fit_thresholds", "rate"])]
    parents = set(stage_runs["tags.mlflow.parentRunId"])
    assert len(parents) == 1
    pipeline = runs.set_index("run_id").loc[parents.pop()]
    assert pipeline["tags.mlflow.runName"] == "dvc repro" and pipeline["status"] == "FINISHED"
    assert pipeline["start_time"] <= stage_runs["start_time"].min() and pipeline["end_time"] >= stage_runs["end_time"].max()
    # the champion is an MLflow Model carrying its knowledge base
    served = mlflow.pyfunc.load_model("models:/sales-ability@champion")
    assert served.metadata.get_input_schema().input_names() == ["path"]
    assert "keras" in served.metadata.flavors


def test_second_repro_is_a_no_op_and_params_change_reruns(reproduced_project: tuple[Path, dict]) -> None:
    root, env = reproduced_project
    status = _run(["dvc", "status"], root, env)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
    original = (root / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["knowledge_base"]["distributions"] = ["beta", "norm"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = _run(["dvc", "status"], root, env)
        assert "fit_thresholds" in status.stdout
        assert "featurize" not in status.stdout and "train:" not in status.stdout
    finally:
        (root / "params.yaml").write_text(original)  # the project is shared by the session's tests


NOISE = ("I0000", "absl::", "oneDNN", "moov atom", "Downloading artifacts", "tensorflow/", "%|")


def test_score_is_quiet_and_says_what_it_wrote(reproduced_project: tuple[Path, dict], tmp_path: Path) -> None:
    root, env = reproduced_project
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for clip in sorted((root / "data/raw/demo").glob("*.mp4"))[:2]:
        (inbox / clip.name).write_bytes(clip.read_bytes())
    (inbox / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 4096)
    cli = str(Path(sys.executable).parent / "sales-ability")
    args = [cli, "score", str(inbox), "--out", str(tmp_path / "out"), "--model", "models:/sales-ability@champion",
            "--thresholds", str(root / "models/knowledge_base.json")]
    run = _run(args, root, env)
    assert run.returncode == 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    assert not [noise for noise in NOISE if noise in output], output[-3000:]
    assert run.stderr.strip().splitlines()[-1] == f"scored 2 applicants (2 segments), rejected 1 -> {tmp_path / 'out' / 'report.html'}"
    # that --verbose lets the libraries' output through is tested on output the test provokes itself
    # (tests/common/test_quiet.py): what TensorFlow prints depends on the CPU


def test_score_records_the_version_and_refuses_other_featurize_settings(reproduced_project: tuple[Path, dict], tmp_path: Path) -> None:
    """One resolver for @alias, /VERSION and a .keras path: same scores, each run records its version, and
    the featurize settings stored with the model are the ones used (others are refused, naming the keys)."""
    import pandas as pd

    from sales_ability.config import FeaturizeParams
    from sales_ability.errors import ModelError
    from sales_ability.io_utils import content_hash
    from sales_ability.knowledge.rate import load_knowledge_base
    from sales_ability.registry.models import FEATURIZE_FILE, resolve_model
    from sales_ability.serving.scoring import score_videos

    root, env = reproduced_project
    tracking = env["MLFLOW_TRACKING_URI"]
    stored = json.loads((root / "models/finetune" / FEATURIZE_FILE).read_text())
    assert stored["n_frames"] == 60 and "workers" not in stored  # only what shapes the tensors
    clips = sorted((root / "data/raw/demo").glob("*.mp4"))[:2]
    kb = load_knowledge_base(root / "models/knowledge_base.json")
    keras_file = root / "models/finetune/model.keras"
    from mlflow import MlflowClient

    champion = str(MlflowClient(tracking).get_model_version_by_alias("sales-ability", "champion").version)
    versions, scores = {}, []
    for name, uri in (("alias", "models:/sales-ability@champion"), ("version", f"models:/sales-ability/{champion}"),
                      ("file", str(keras_file))):
        resolved = resolve_model(uri, tmp_path / f"cache-{name}", tracking)
        assert resolved.featurize == FeaturizeParams.model_validate(stored)  # logged with the model in MLflow
        score_videos(clips, tmp_path / name, kb, uri, progress=False, write_report=False, tracking=tracking)
        results = pd.read_parquet(tmp_path / name / "results.parquet").sort_values("clip_id")
        versions[name] = set(results["model_version"])
        scores.append(results["sales_score"].to_numpy())
    assert versions == {"alias": {champion}, "version": {champion}, "file": {f"sha256:{content_hash(keras_file)[:12]}"}}
    assert all((s == scores[0]).all() for s in scores) and len(scores[0]) == 2  # the champion is this file
    other = FeaturizeParams.model_validate(stored | {"n_frames": 30, "margin": 0.3, "workers": 2})
    with pytest.raises(ModelError, match=r"n_frames \(model 60, given 30\); margin \(model 0.2, given 0.3\)"):
        score_videos(clips, tmp_path / "other", kb, str(keras_file), other, progress=False)
    assert not (tmp_path / "other" / "faces").exists()  # refused before featurizing anything
    same = FeaturizeParams.model_validate(stored | {"workers": 2, "shard_size": 1})  # how, not what: accepted
    assert resolve_model(str(keras_file)).featurize_settings(same) == same


def test_dvc_plots_show_draws_each_figure_once_from_the_offline_template(reproduced_project: tuple[Path, dict],
                                                                        tmp_path: Path) -> None:
    from sales_ability.dvc_plots import TEMPLATE_NAME, render_template

    root, env = reproduced_project
    (root / ".dvc" / TEMPLATE_NAME).write_text(render_template(["/* vega */ var x = '</script>';", "/* vega-lite */"]))
    assert _run(["dvc", "config", "--local", "plots.html_template", TEMPLATE_NAME], root, env).returncode == 0
    try:
        shown = _run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], root, env)
        assert shown.returncode == 0, shown.stderr[-2000:]
        page = (tmp_path / "plots/index.html").read_text()
    finally:
        _run(["dvc", "config", "--local", "--unset", "plots.html_template"], root, env)
    assert "cdn.jsdelivr" not in page and "/* vega-lite */" in page and "<\\/script>" in page  # inlined, escaped
    assert "img { max-width: 100%" in page  # wide figures fit
    for figure in ("predicted_vs_true.png", "trait_distributions.png", "sales_scores.png", "clusters.png"):
        assert page.count(f'{figure}"') == 1, figure  # one <img src="static/workspace_..._{figure}">
    assert page.count('id = "train_learning_curve"') == 1 and "plots_train_history_csv" not in page
