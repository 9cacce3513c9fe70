"""The model on the JAX backend (the GPU machine has JAX, not TensorFlow), each check in a fresh process
because Keras picks its backend once, at import.

TensorFlow is made unimportable in the JAX processes: training, saving, loading and scoring must not
need it (only the optional MTCNN face detector does).
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

from sales_ability.traits import TRAITS
from tests.conftest import REPO

BLOCK_TENSORFLOW = """
import sys
class NoTensorFlow:  # any import of TensorFlow fails, as on the GPU machine (not sys.modules[...] = None:
    def find_spec(self, name, path=None, target=None):  # Keras takes a name in sys.modules as "TF present")
        if name.partition(".")[0] == "tensorflow":
            raise ImportError(f"TensorFlow is not installed here ({name})")
sys.meta_path.insert(0, NoTensorFlow())
"""


def _python(backend: str, code: str, cwd: Path) -> dict:
    """Run ``code`` under ``KERAS_BACKEND=backend``; it prints one JSON line starting with ``RESULT``."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu",
           "CUDA_VISIBLE_DEVICES": ""}
    prelude = BLOCK_TENSORFLOW if backend == "jax" else ""
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


TRAIN_AND_SAVE = """
import json, keras, numpy as np
from pathlib import Path
from tests.model.synthetic import write_face_tensors
from sales_ability.model.network import build_model, seed_everything
from sales_ability.model.predict import predict_clips
from sales_ability.model.training import FitSettings, fit_model, load_model, save_model

faces = write_face_tensors(Path("faces"), n_clips=12, n_frames=4, size=16)
seed_everything(0)
model = build_model("tiny", n_frames=4, frame_size=16)
before = [w.copy() for w in model.get_weights()]
fit = fit_model(model, faces, FitSettings(epochs=2, batch_size=4, learning_rate=3e-3, patience=5,
                                          augment_flip=True, seed=0))
changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
save_model(model, Path("model.keras"))
test = predict_clips(model, faces, "test", labelled_only=True)
ids, pred = test["clip_id"].tolist(), test[["openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"]].to_numpy()
reloaded = predict_clips(load_model("model.keras"), faces, "test", labelled_only=True)[["openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"]].to_numpy()
np.save("pred.npy", pred)
import sys
used_tf = "tensorflow" in sys.modules
try:
    import tensorflow
    tf_importable = True
except ImportError:
    tf_importable = False
print("RESULT " + json.dumps({"backend": keras.backend.backend(), "fit": fit, "changed": changed,
      "used_tf": used_tf, "tf_importable": tf_importable,
      "n_weights": len(before), "reload_diff": float(np.abs(pred - reloaded).max()), "ids": ids}))
"""


def test_jax_trains_with_the_parquet_feed_and_round_trips_a_saved_model(tmp_path: Path) -> None:
    result = _python("jax", TRAIN_AND_SAVE, tmp_path)
    assert result["backend"] == "jax"
    assert not result["tf_importable"] and not result["used_tf"]  # the block holds, and nothing needed TF
    assert result["fit"]["epochs_run"] == 2 and result["fit"]["train_clips"] == 6
    assert result["changed"] == result["n_weights"]  # every weight moved: the step trained the whole model
    assert result["reload_diff"] < 2e-6  # same weights (XLA may reorder float sums), both rounded to 1e-6
    assert np.isfinite(np.load(tmp_path / "pred.npy")).all()


def test_a_tensorflow_trained_model_predicts_the_same_on_jax(tmp_path: Path) -> None:
    trained = _python("tensorflow", TRAIN_AND_SAVE, tmp_path)
    assert trained["backend"] == "tensorflow" and trained["used_tf"]
    on_jax = _python("jax", """
        import json, keras, numpy as np
        from pathlib import Path
        from sales_ability.model.predict import predict_clips
        frame = predict_clips(Path("model.keras"), Path("faces"))  # the one predict path: every clip, unlabelled too
        frame.to_csv("jax_predictions.csv", index=False)
        print("RESULT " + json.dumps({"backend": keras.backend.backend(), "ids": frame["clip_id"].tolist()}))
    """, tmp_path)
    assert on_jax["backend"] == "jax"

    jax_pred = pd.read_csv(tmp_path / "jax_predictions.csv").set_index("clip_id")
    tf_pred = np.load(tmp_path / "pred.npy")
    assert len(trained["ids"]) == 3 and len(on_jax["ids"]) == 12
    difference = np.abs(jax_pred.loc[trained["ids"], list(TRAITS)].to_numpy() - tf_pred).max()
    assert difference < 1e-4, difference  # predict_clips rounds to 1e-6


def test_efficientnetb2_builds_and_predicts_on_jax(tmp_path: Path) -> None:
    """The paper's best backbone, as the GPU machine runs it (frames folded into the batch)."""
    result = _python("jax", """
        import json, keras, numpy as np
        from sales_ability.model.network import build_model
        model = build_model("efficientnetb2")
        x = np.random.default_rng(0).integers(0, 255, (1, 60, 64, 64, 3), dtype=np.uint8)
        y = np.asarray(model.predict(x, verbose=0))
        print("RESULT " + json.dumps({"shape": list(y.shape), "finite": bool(np.isfinite(y).all()),
                                      "params": model.count_params()}))
    """, tmp_path)
    assert result["shape"] == [1, 5] and result["finite"]
    assert result["params"] > 7_000_000


def test_bench_gpu_runs_end_to_end_on_a_cpu(tmp_path: Path) -> None:
    """`make bench-gpu` on this CPU: the real trainer and the bare model at two batch sizes, figures in JSON."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_gpu", "--preset", "tiny", "--clips", "4",
                           "--batch-sizes", "2,4", "--epochs", "2", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["backend"] == "jax" and figures["device"] == "cpu"
    assert [r["batch_size"] for r in figures["rows"]] == [2, 4]
    for row in figures["rows"]:
        assert row["clips"] == 4 and row["trainer_clips_per_s"] > 0 and row["bare_clips_per_s"] > 0
        assert abs(row["trainer_over_bare"] - row["trainer_clips_per_s"] / row["bare_clips_per_s"]) < 0.01  # from unrounded rates
        assert row["predict_clips_per_s"] > 0 and row["first_step_s"] > 0 and row["peak_memory_mib"] > 0
    assert "trainer / bare" in proc.stdout and f"figures -> {out}" in proc.stdout.replace("\n", "")
