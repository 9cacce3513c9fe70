"""The checks of tests/model/test_jax_backend.py, run in one process per backend (Keras picks its backend once, at
import, and each JAX process pays Keras' import and XLA's first compilations again: one process, not four).

    python -m tests.model.backend_checks FOLDER   # with KERAS_BACKEND=jax: every JAX check, one RESULT line

Each check writes into its own folder under FOLDER and returns a JSON-able dict; a check that raises is recorded
as ``{"error": traceback}`` so that each test fails with its own error while the others still get their results.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

def train_and_save(folder: Path) -> dict:
    """Train the tiny model on a Parquet feed of 12 synthetic clips in ``folder``, save it, reload it, predict."""
    import keras
    import numpy as np

    from sales_ability.model.network import build_model, seed_everything
    from sales_ability.model.predict import predict_clips
    from sales_ability.model.training import FitSettings, fit_model, load_model, save_model
    from sales_ability.traits import TRAITS
    from tests.model.synthetic import write_face_tensors

    folder.mkdir(parents=True, exist_ok=True)
    faces = write_face_tensors(folder / "faces", n_clips=12, n_frames=4, size=16)
    seed_everything(0)
    model = build_model("tiny", n_frames=4, frame_size=16)
    before = [w.copy() for w in model.get_weights()]
    fit = fit_model(model, faces, FitSettings(epochs=2, batch_size=4, learning_rate=3e-3, patience=5,
                                              augment_flip=True, seed=0))
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    save_model(model, folder / "model.keras")
    test = predict_clips(model, faces, "test", labelled_only=True)
    prediction = test[list(TRAITS)].to_numpy()
    reloaded = predict_clips(load_model(folder / "model.keras"), faces, "test", labelled_only=True)[list(TRAITS)]
    np.save(folder / "pred.npy", prediction)
    return {"backend": keras.backend.backend(), "jit_compile": bool(model.jit_compile), "fit": fit,
            "changed": changed, "n_weights": len(before),
            "reload_diff": float(np.abs(prediction - reloaded.to_numpy()).max()), "ids": test["clip_id"].tolist(),
            "finite": bool(np.isfinite(prediction).all())}


def predict_folder(folder: Path) -> dict:
    """Predict every clip of ``folder/faces`` (unlabelled too) with ``folder/model.keras``, the one predict path."""
    import keras

    from sales_ability.model.predict import predict_clips

    frame = predict_clips(folder / "model.keras", folder / "faces")
    frame.to_csv(folder / "predictions.csv", index=False)
    return {"backend": keras.backend.backend(), "ids": frame["clip_id"].tolist()}


def efficientnetb2_predicts(folder: Path) -> dict:
    """The paper's best backbone built and run as the GPU machine runs it (frames folded into the batch)."""
    import numpy as np

    from sales_ability.model.network import build_model

    model = build_model("efficientnetb2")
    x = np.random.default_rng(0).integers(0, 255, (1, 60, 64, 64, 3), dtype=np.uint8)
    y = np.asarray(model.predict(x, verbose=0))
    return {"shape": list(y.shape), "finite": bool(np.isfinite(y).all()), "params": model.count_params()}


def bench_gpu_on_cpu(folder: Path) -> dict:
    """`make bench-gpu`'s command with small figures: the real trainer and the bare model at two batch sizes."""
    from benchmarks.bench_gpu import app

    out, printed = folder / "bench.json", io.StringIO()
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(printed):
        app(["--preset", "tiny", "--clips", "4", "--batch-sizes", "2,4", "--epochs", "2", "--out", str(out)],
            standalone_mode=False)
    return {"figures": json.loads(out.read_text()), "printed": printed.getvalue(), "out": str(out)}


def run_checks(folder: Path, checks: dict[str, Callable[[Path], dict]]) -> dict:
    """Each check in its own subfolder; a failing check records its traceback and the next one still runs."""
    results = {}
    for name, check in checks.items():
        try:
            results[name] = check(folder / name)
        except Exception:  # recorded for the test that reads this check; the others go on
            results[name] = {"error": traceback.format_exc()}
    return results


JAX_CHECKS = {"train_and_save": train_and_save, "efficientnetb2": efficientnetb2_predicts, "bench_gpu": bench_gpu_on_cpu}


def main(folder: Path, tensorflow_trained: Path | None) -> None:
    """Every JAX check, then the prediction of a TensorFlow-trained model's folder; TensorFlow used or not."""
    results = run_checks(folder, JAX_CHECKS)
    if tensorflow_trained is not None:  # its folder is the TensorFlow check's, not one under ``folder``
        results |= run_checks(folder, {"predict_tensorflow_model": lambda _: predict_folder(tensorflow_trained)})
    results["used_tf"] = "tensorflow" in sys.modules
    import importlib

    try:
        importlib.import_module("tensorflow")  # the block must refuse it here, as the GPU machine lacks it
        results["tf_importable"] = True
    except ImportError:
        results["tf_importable"] = False
    results["backend"] = os.environ.get("KERAS_BACKEND")
    print("RESULT " + json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
