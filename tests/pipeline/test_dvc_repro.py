"""`dvc repro` of the whole pipeline, for real, in a temporary git + DVC repository on demo data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sales_ability.featurize import read_face_tensors
from tests.conftest import copy_project


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = copy_project(tmp_path_factory.mktemp("project"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["demo"]["clips"] = 12
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        assert _run(cmd, root, env).returncode == 0
    repro = _run(["dvc", "repro"], root, env)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    return root, env


def test_repro_builds_every_output(reproduced: tuple[Path, dict]) -> None:
    root, _ = reproduced
    assert len(list((root / "data/raw/demo").glob("*.mp4"))) == 12
    faces = read_face_tensors(root / "data/faces", columns=["clip_id", "split", "openness"])
    assert faces.num_rows == 12
    assert set(faces.column("split").to_pylist()) == {"train", "validation", "test"}
    feat = json.loads((root / "metrics/featurize.json").read_text())["featurize"]
    assert feat["kept"] == 12 and feat["rejected"] == 0
    kb = json.loads((root / "models/knowledge_base.json").read_text())
    assert kb["knowledge_base"] == "fitted"
    rated = json.loads((root / "metrics/knowledge_base.json").read_text())["knowledge_base"]
    assert rated["rated"] >= 1 and 1 <= rated["mean_sales_score"] <= 10
    for figure in ("trait_distributions.png", "sales_scores.png"):
        assert (root / "plots/knowledge_base" / figure).stat().st_size > 1000


def test_second_repro_is_a_no_op_and_params_change_reruns(reproduced: tuple[Path, dict]) -> None:
    root, env = reproduced
    status = _run(["dvc", "status"], root, env)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["knowledge_base"]["distributions"] = ["beta", "norm"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = _run(["dvc", "status"], root, env)
    assert "fit_thresholds" in status.stdout and "featurize" not in status.stdout
