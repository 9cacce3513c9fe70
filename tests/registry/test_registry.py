from pathlib import Path

import mlflow
import pytest

from sales_ability.registry.tracking import EXPERIMENT, tracking_uri
from tests.registry_helpers import approve_as_champion


def test_resolver_gives_file_version_and_the_stored_featurize_settings(tmp_path: Path) -> None:
    """Every URI kind resolves to the .keras file, a version and the featurize settings saved beside it."""
    from sales_ability.config import FeaturizeParams
    from sales_ability.errors import ModelError
    from sales_ability.io_utils import content_hash
    from sales_ability.registry.models import resolve_model, save_featurize_params

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.keras").write_bytes(b"weights")
    trained_with = FeaturizeParams(n_frames=30, detect_every=5, workers=4)
    save_featurize_params(model_dir, trained_with)
    from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base
    from sales_ability.serving.mlflow_model import build_mlflow_model

    save_knowledge_base(paper_knowledge_base(), tmp_path / "kb.json")
    built = build_mlflow_model(model_dir, tmp_path / "kb.json", "# card", tmp_path / "built", ["answer_1.webm"])
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(built), artifact_path="model")
    champion = approve_as_champion(run.info.run_id, "contract")

    by_alias = resolve_model("models:/contract@champion", tmp_path / "a")
    by_version = resolve_model(f"models:/contract/{champion}", tmp_path / "v")
    by_run = resolve_model(f"runs:/{run.info.run_id}/model", tmp_path / "r")
    by_path = resolve_model(str(model_dir / "model.keras"))
    assert by_alias.version == by_version.version == champion
    assert by_run.version == by_path.version == f"sha256:{content_hash(model_dir / 'model.keras')[:12]}"
    for resolved in (by_alias, by_version, by_run, by_path):
        assert resolved.file.read_bytes() == b"weights"
        assert resolved.featurize == trained_with.model_copy(update={"workers": 1})  # how to run is not stored
        assert resolved.featurize_settings() == resolved.featurize  # nothing explicit: the model's own

    with pytest.raises(ModelError, match=r"n_frames \(model 30, given 60\)"):
        by_path.featurize_settings(FeaturizeParams(detect_every=5))
    assert by_path.featurize_settings(trained_with).workers == 4  # workers and shard size stay the caller's
    (model_dir / "featurize.json").write_text('{"n_frames": "many"}')
    with pytest.raises(ModelError, match="featurize.json: not valid featurize settings"):
        resolve_model(str(model_dir / "model.keras"))
    for missing, says in (("models:/contract@gone", r"registered model 'contract' has no alias 'gone' \(its aliases: "
                                                    r"champion\)"),
                          ("models:/contract/9", "has no version '9'"),
                          ("models:/nobody@champion", "no registered model 'nobody'"),
                          (str(tmp_path / "nope.keras"), "model file not found")):
        with pytest.raises(ModelError, match=says):
            resolve_model(missing)

    with mlflow.start_run() as bare:  # a version without an MLmodel (registered before the serving contract)
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
    old = approve_as_champion(bare.info.run_id, "contract")
    with pytest.raises(ModelError, match="is not an MLflow Model"):
        resolve_model(f"models:/contract/{old}")


def test_tracking_errors_are_one_line_naming_the_server(tmp_path: Path) -> None:
    """A server that accepts and never answers fails after the CLI's timeout; a bad scheme names the URI."""
    import os
    import socket
    import subprocess
    import sys

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    cli = str(Path(sys.executable).parent / "sales-ability")
    try:
        for uri, says in ((f"http://127.0.0.1:{silent.getsockname()[1]}", "did not answer within 1 s"),
                          ("foo://bar", "foo://bar: not a tracking URI MLflow can use")):
            env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP")} | {"MLFLOW_TRACKING_URI": uri}
            run = subprocess.run([cli, "--tracking-timeout", "1", "score", str(tmp_path), "--out", str(tmp_path / "o")],
                                 env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
            assert run.returncode == 2, run.stderr[-2000:]
            out = run.stdout + run.stderr
            assert says in out.replace("\n", " ") and "Traceback" not in out, out[-2000:]
            assert out.lstrip().startswith("error:") and len(out.strip().splitlines()) <= 3  # one line, as wrapped
    finally:
        silent.close()


def test_a_model_saved_without_settings_uses_the_given_ones(tmp_path: Path) -> None:
    from sales_ability.config import FeaturizeParams
    from sales_ability.registry.models import resolve_model

    (tmp_path / "old.keras").write_bytes(b"old")
    old = resolve_model(str(tmp_path / "old.keras"))
    assert old.featurize is None
    assert old.featurize_settings() == FeaturizeParams()
    assert old.featurize_settings(FeaturizeParams(n_frames=30)).n_frames == 30


def test_one_dvc_invocation_keeps_its_pipeline_key_when_the_system_clock_is_stepped(tmp_path: Path) -> None:
    """A stage finds its pipeline run by the key of the dvc process it runs under; a clock step between two
    stages (seen: 27 s during one `dvc repro`) must not give the second stage another key."""
    import subprocess
    import sys

    stage = ("import psutil._pslinux as linux\n"
             "from sales_ability.registry.tracking import _dvc_invocation\n"
             "before = _dvc_invocation()\n"
             "boot_time = linux.boot_time\n"
             "linux.boot_time = lambda: boot_time() + 27.0  # the wall clock stepped: boot time moves by as much\n"
             "print(before is not None and before == _dvc_invocation())\n")
    dvc = tmp_path / "dvc"  # stands for the dvc process that runs the stage
    dvc.write_text(f"import subprocess, sys\nsys.exit(subprocess.run([sys.executable, '-c', {stage!r}]).returncode)\n")
    run = subprocess.run([sys.executable, str(dvc), "repro"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "True", run.stdout + run.stderr
