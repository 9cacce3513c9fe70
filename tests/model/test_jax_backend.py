"""The model on the JAX backend (the GPU machine has JAX, not TensorFlow), in a process of its own because Keras
picks its backend once, at import: one JAX process runs every check (tests/model/backend_checks.py), since each
new one pays Keras' import and XLA's first compilations again.

TensorFlow is made unimportable in the JAX process: training, saving, loading, scoring and `make bench-gpu` must
not need it (only the optional MTCNN face detector does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sales_ability.traits import TRAITS
from tests.conftest import REPO
from tests.model.backend_checks import run_checks, train_and_save

BLOCK_TENSORFLOW = """
import sys
class NoTensorFlow:  # any import of TensorFlow fails, as on the GPU machine (not sys.modules[...] = None:
    def find_spec(self, name, path=None, target=None):  # Keras takes a name in sys.modules as "TF present")
        if name.partition(".")[0] == "tensorflow":
            raise ImportError(f"TensorFlow is not installed here ({name})")
sys.meta_path.insert(0, NoTensorFlow())
"""


# `make install` puts JAX in a folder of its own (requirements-jax.lock), on the path only of the JAX processes
JAX_PACKAGES = Path(sys.prefix) / "jax"


def _python(backend: str, code: str, *args: str) -> dict:
    """Run ``code`` under ``KERAS_BACKEND=backend`` (TensorFlow unimportable under JAX); it prints one JSON line
    starting with ``RESULT``."""
    path = [str(REPO), str(JAX_PACKAGES)] if backend == "jax" else [str(REPO)]
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join(path), "JAX_PLATFORMS": "cpu",
           "CUDA_VISIBLE_DEVICES": ""}
    prelude = BLOCK_TENSORFLOW if backend == "jax" else ""
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


def _ok(result: dict) -> dict:
    """A check's result, or the check's own traceback as the failure."""
    assert "error" not in result, result["error"]
    return result


@pytest.fixture(scope="module")
def tensorflow_trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The tiny model trained and saved on TensorFlow: in this worker when its Keras runs on TensorFlow (as
    `make test`'s does), else in a TensorFlow process."""
    import keras

    folder = tmp_path_factory.mktemp("tensorflow")
    if keras.backend.backend() == "tensorflow":
        return folder / "trained", run_checks(folder, {"trained": train_and_save})["trained"]
    return folder / "trained", _python("tensorflow", "import json, sys; from pathlib import Path\n"
                                       "from tests.model.backend_checks import run_checks, train_and_save\n"
                                       "print('RESULT ' + json.dumps(run_checks(Path(sys.argv[1]), "
                                       "{'trained': train_and_save})['trained']))", str(folder))


@pytest.fixture(scope="module")
def on_jax(tensorflow_trained: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every JAX check in one JAX process (tests/model/backend_checks.py), TensorFlow unimportable there."""
    folder, trained = tensorflow_trained
    args = [str(tmp_path_factory.mktemp("jax"))] + ([str(folder)] if "error" not in trained else [])
    return _python("jax", "import sys; from pathlib import Path\nfrom tests.model.backend_checks import main\n"
                   "main(*map(Path, sys.argv[1:]))", *args)


def test_jax_runs_without_tensorflow(on_jax: dict) -> None:
    assert on_jax["backend"] == "jax"
    assert not on_jax["tf_importable"] and not on_jax["used_tf"]  # the block holds, and no check needed TF


def test_jax_trains_with_the_parquet_feed_and_round_trips_a_saved_model(on_jax: dict) -> None:
    result = _ok(on_jax["train_and_save"])
    assert result["backend"] == "jax"
    assert result["jit_compile"]  # the params' jit_compile: false is TensorFlow's; JAX without jit runs op by op
    assert result["fit"]["epochs_run"] == 2 and result["fit"]["train_clips"] == 6
    assert result["changed"] == result["n_weights"]  # every weight moved: the step trained the whole model
    assert result["reload_diff"] < 2e-6  # same weights (XLA may reorder float sums), both rounded to 1e-6
    assert len(result["ids"]) == 3 and result["finite"]


def test_a_tensorflow_trained_model_predicts_the_same_on_jax(tensorflow_trained: tuple[Path, dict], on_jax: dict) -> None:
    folder, trained = tensorflow_trained
    trained = _ok(trained)
    assert trained["backend"] == "tensorflow" and not trained["jit_compile"]  # TensorFlow's graph, no XLA
    predicted = _ok(on_jax["predict_tensorflow_model"])
    assert predicted["backend"] == "jax"
    jax_pred = pd.read_csv(folder / "predictions.csv").set_index("clip_id")
    tf_pred = np.load(folder / "pred.npy")
    assert len(trained["ids"]) == 3 and len(predicted["ids"]) == 12
    difference = np.abs(jax_pred.loc[trained["ids"], list(TRAITS)].to_numpy() - tf_pred).max()
    assert difference < 1e-4, difference  # predict_clips rounds to 1e-6


def test_efficientnetb2_builds_and_predicts_on_jax(on_jax: dict) -> None:
    """The paper's best backbone, as the GPU machine runs it (frames folded into the batch)."""
    result = _ok(on_jax["efficientnetb2"])
    assert result["shape"] == [1, 5] and result["finite"]
    assert result["params"] > 7_000_000


def test_bench_gpu_runs_end_to_end_on_a_cpu(on_jax: dict) -> None:
    """`make bench-gpu`'s command on this CPU, with no TensorFlow: the real trainer and the bare model at two
    batch sizes, figures in JSON."""
    result = _ok(on_jax["bench_gpu"])
    figures = result["figures"]
    assert figures["backend"] == "jax" and figures["device"] == "cpu"
    assert [r["batch_size"] for r in figures["rows"]] == [2, 4]
    for row in figures["rows"]:
        assert row["clips"] == 4 and row["trainer_clips_per_s"] > 0 and row["bare_clips_per_s"] > 0
        assert abs(row["trainer_over_bare"] - row["trainer_clips_per_s"] / row["bare_clips_per_s"]) < 0.01  # from unrounded rates
        assert row["predict_clips_per_s"] > 0 and row["first_step_s"] > 0 and row["peak_memory_mib"] > 0
    assert "trainer / bare" in result["printed"] and f"figures -> {result['out']}" in result["printed"].replace("\n", "")


def test_keras_on_tensorflow_does_not_load_jax() -> None:
    """TensorFlow imports JAX whenever it can find it (`tensorflow.lite`), 0.3-0.7 CPU s in every process that
    loads Keras: `make install` keeps JAX in its own folder, on the path of the JAX processes only."""
    import keras

    assert keras.backend.backend() == "tensorflow"  # make test's workers, as every stage and CLI process
    assert "jax" not in sys.modules, "JAX is in the venv itself: pip uninstall jax jaxlib (make install: .venv/jax)"
    assert (JAX_PACKAGES / "jax").is_dir(), f"{JAX_PACKAGES}: no JAX; make install puts it there"
