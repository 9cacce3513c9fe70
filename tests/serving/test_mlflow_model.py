"""The champion as an MLflow Model: registered once, it loads with pyfunc, the keras flavor and plain Keras,
resolves with its knowledge base, and serves applicant scores over HTTP with `mlflow models serve`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
from mlflow.entities import LoggedModelStatus
import pandas as pd
import pytest

from sales_ability.io_utils import content_hash
from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base


@pytest.fixture()
def champion(tiny_model: Path, tmp_path: Path, isolated_mlflow: str) -> dict:
    """The tiny model built into an MLflow Model, logged as a LoggedModel (as the evaluate stage does) and
    registered as the champion."""
    from sales_ability.serving.mlflow_model import build_mlflow_model, log_mlflow_model
    from tests.registry_helpers import approve_as_champion
    from sales_ability.registry.tracking import EXPERIMENT

    kb_file = tmp_path / "knowledge_base.json"
    save_knowledge_base(paper_knowledge_base(), kb_file)
    folder = build_mlflow_model(tiny_model.parent, kb_file, "# card", tmp_path / "built", ["answer_1.webm"])
    assert "sales-ability" not in (folder / "requirements.txt").read_text()  # nothing a stranger could publish
    assert (folder / "code" / "sales_ability" / "serving" / "mlflow_model.py").is_file()  # the model carries its code
    mlflow.set_tracking_uri(isolated_mlflow)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run() as run:
        model_id = log_mlflow_model(tiny_model.parent, kb_file, "# card", ["answer_1.webm"], {"test_mean_accuracy": "0.9"})
    logged = mlflow.get_logged_model(model_id)  # in the experiment's Models tab, tied to its run
    assert logged.status == LoggedModelStatus.READY
    assert logged.source_run_id == run.info.run_id and logged.tags["test_mean_accuracy"] == "0.9"
    assert [o.model_id for o in mlflow.get_run(run.info.run_id).outputs.model_outputs] == [model_id]
    version = approve_as_champion(run.info.run_id, model_id=model_id)
    assert mlflow.MlflowClient().get_model_version("sales-ability", version).source == f"models:/{model_id}"
    linked = json.loads(mlflow.get_logged_model(model_id).tags["mlflow.modelVersions"])
    assert linked == [{"name": "sales-ability", "version": version}]  # the Models tab shows the registered version
    return {"version": version, "kb_sha256": content_hash(kb_file), "tracking": isolated_mlflow}


def _inbox(demo_dir: Path, root: Path) -> list[str]:
    root.mkdir()
    clips = sorted(demo_dir.glob("*.mp4"))[:2]
    for clip in clips:
        shutil.copy(clip, root / clip.name)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2048)
    return [str(root / c.name) for c in clips] + [str(root / "broken.mp4")]


def test_champion_loads_with_pyfunc_keras_flavor_and_plain_keras_and_scores_applicants(
        champion: dict, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from sales_ability.serving.mlflow_model import APPLICANT_OUTPUT, SERVE_ROOT_ENV
    from sales_ability.registry.models import resolve_model

    uri = "models:/sales-ability@champion"
    paths = _inbox(demo_dir, tmp_path / "inbox")
    monkeypatch.setenv(SERVE_ROOT_ENV, str(tmp_path / "inbox"))
    scored = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"path": paths}))
    assert list(scored.columns) == list(APPLICANT_OUTPUT)
    assert len(scored) == 3  # two applicants scored, the broken video's applicant kept with its reason
    broken = scored.set_index("applicant_id").loc["broken"]
    assert pd.isna(broken["sales_score"]) and "broken.mp4:" in broken["rejected"]
    good = scored.dropna(subset=["sales_score"])
    assert len(good) == 2 and (good["rejected"] == "").all()
    assert (good["sales_score_low"] <= good["sales_score"]).all() and (good["sales_score"] <= good["sales_score_high"]).all()
    assert set(scored["knowledge_base_sha256"]) == {champion["kb_sha256"]}  # each row names its thresholds

    resolved = resolve_model(uri)  # the serving contract, read from the same version
    assert resolved.version == champion["version"] and resolved.knowledge_base == paper_knowledge_base()
    assert resolved.knowledge_base_sha256 == champion["kb_sha256"] and resolved.calibration["n"] == 40
    network = mlflow.keras.load_model(uri)  # the keras flavor
    assert network.output_shape == (None, 5)
    plain = keras.saving.load_model(resolved.file)  # plain Keras (the package registered its layers and metric)
    assert plain.count_params() == network.count_params()


def test_a_compiled_model_loads_with_plain_keras(tmp_path: Path) -> None:
    """The trained model's Eq. 1 metric is registered, so its compile state loads without custom_objects."""
    import keras

    from sales_ability.model.network import build_model
    from sales_ability.model.training import compile_model, save_model

    model = build_model("tiny")
    compile_model(model, 1e-3)
    save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.compiled and loaded.loss == "mse"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_models_serve_scores_a_request_on_loopback(champion: dict, demo_dir: Path, tmp_path: Path) -> None:
    from sales_ability.serving.mlflow_model import example_request

    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow execs uvicorn from PATH, as in an activated venv
    env = {**os.environ, "MLFLOW_TRACKING_URI": champion["tracking"], "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", "models:/sales-ability@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "--workers", "1"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(240):  # until the server answers (it imports Keras and loads the model first)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read()[-3000:]
            time.sleep(0.5)
        paths = _inbox(demo_dir, tmp_path / "inbox")[:2]
        answer = httpx.post(f"http://127.0.0.1:{port}/invocations", content=example_request(paths),
                            headers={"Content-Type": "application/json"}, timeout=120)
        assert answer.status_code == 200, answer.text[-2000:]
        rows = pd.DataFrame(answer.json()["predictions"])
        assert sorted(rows["applicant_id"]) == sorted(Path(p).stem for p in paths)
        assert rows["sales_score"].between(1, 10).all() and set(rows["knowledge_base_sha256"]) == {champion["kb_sha256"]}
        bad = httpx.post(f"http://127.0.0.1:{port}/invocations", json={"dataframe_split": {"columns": ["video"], "data": [["x"]]}},
                         timeout=60)
        assert bad.status_code == 400 and "path" in bad.text  # the signature names the column it needs
        (tmp_path / "inbox" / "escape.mp4").symlink_to(Path(paths[0]).resolve().parent.parent / "outside.mp4")
        shutil.copy(paths[0], tmp_path / "outside.mp4")
        refusals = {}
        for probe in ("/etc/passwd", str(tmp_path / "inbox" / "missing.mp4"), str(tmp_path / "inbox"), "/usr",
                      "../outside.mp4", "escape.mp4"):  # outside, missing, the root itself, a walk, a climb, a link out
            answer = httpx.post(f"http://127.0.0.1:{port}/invocations", content=example_request([probe]),
                                headers={"Content-Type": "application/json"}, timeout=60)
            refusals[probe] = (answer.status_code, answer.json().get("message", "").split("Error: ")[-1],
                               "stack_trace" in answer.json())
        assert {code for code, _, _ in refusals.values()} == {400}, refusals
        assert len({message for _, message, _ in refusals.values()}) == 1, refusals  # no oracle: one answer for all
        assert not any(trace for _, _, trace in refusals.values())  # and no stack trace
        for coverage in (0, 1.5, -1, "NaN"):
            body = {"dataframe_split": {"columns": ["path"], "data": [[paths[0]]]}, "params": {"coverage": coverage}}
            answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60)
            assert answer.status_code == 400 and "coverage" in answer.text, (coverage, answer.text[-500:])
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_serving_token_and_the_confinement_hold_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException

    from sales_ability.serving.mlflow_model import SERVE_TOKEN_ENV, _check_token, confined_paths

    monkeypatch.setenv(SERVE_TOKEN_ENV, "s3cret-token")
    for wrong in (None, "", "s3cret", 42):
        with pytest.raises(MlflowException, match="unauthorised"):
            _check_token(wrong)
    _check_token("s3cret-token")
    root = tmp_path / "inbox"
    (root / "ann").mkdir(parents=True)
    (root / "ann" / "answer_1.webm").write_bytes(b"x")
    (root / "ann" / "notes.mp4").write_bytes(b"x")  # not an answer: a folder yields only its answer_<n> files
    (root / "ann" / "deeper").mkdir()
    (root / "ann" / "deeper" / "answer_2.webm").write_bytes(b"x")  # never walked into
    assert confined_paths(["ann"], root.resolve()) == [str((root / "ann" / "answer_1.webm").resolve())]
    with pytest.raises(MlflowException, match="at most"):
        confined_paths(["ann"] * 101, root.resolve())
