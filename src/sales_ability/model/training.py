"""Train and fine-tune the trait model on face tensors, tracking every epoch in MLflow."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from sales_ability.io_utils import atomic_path, write_csv_atomic
from sales_ability.model.feed import FaceTensorDataset
from sales_ability.model.network import mean_accuracy_metric


@dataclass(frozen=True)
class FitSettings:
    """How one training phase runs."""

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    augment_flip: bool
    seed: int
    jit_compile: bool = False
    feed_workers: int = 1  # >1: threads prefetch batches while the accelerator trains (not bit-reproducible)


def mlflow_callbacks() -> list[keras.callbacks.Callback]:
    """MLflow's own Keras callback (every epoch's metrics, the optimizer's settings, the model summary) when an
    MLflow run is active; none otherwise (a bench or a GPU box without MLflow: nothing is started by accident)."""
    mlflow = sys.modules.get("mlflow")  # never imported: no run is active (and a GPU box may lack MLflow)
    if mlflow is None or mlflow.active_run() is None:
        return []
    from mlflow.keras import MlflowCallback

    return [MlflowCallback(log_every_epoch=True)]


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch: the first holds the compilation, the rest are the steady state."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def compile_model(model: keras.Model, learning_rate: float, jit_compile: bool = False) -> None:
    """Adam on MSE, with Eq. 1 mean accuracy as the metric.

    ``jit_compile`` chooses XLA for TensorFlow's train step (off: TensorFlow's own graph, which compiles faster for
    this model on a CPU). JAX always compiles the step: Keras runs JAX without ``jit`` op by op, each op compiled
    on its own, which made a 2-epoch fit of the tiny model 3 times as slow on a CPU, and would make every step on
    the GPU machine a stream of small kernels.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="mse",
        metrics=[keras.metrics.MeanMetricWrapper(mean_accuracy_metric, name="mean_accuracy")],
        jit_compile=jit_compile or keras.backend.backend() == "jax",
    )


def fit_model(
    model: keras.Model,
    faces: str | Path,
    settings: FitSettings,
    history_file: str | Path | None = None,
) -> dict:
    """Train on the ``train`` split with early stopping on validation mean accuracy (best weights kept).

    Returns:
        Figures of the run: epochs run, best validation mean accuracy, seconds, training clips/s, and
        ``epoch_seconds`` (each epoch's wall time, validation included).
    """
    from sales_ability.model.network import seed_everything

    seed_everything(settings.seed)  # again: the shuffles, dropout and flips of this fit repeat too
    train = FaceTensorDataset(faces, "train", settings.batch_size, shuffle=True, augment_flip=settings.augment_flip,
                              seed=settings.seed, workers=settings.feed_workers)
    try:
        val = FaceTensorDataset(faces, "validation", settings.batch_size)
    except ValueError:
        val = None  # no validation split: train for the full epochs
    compile_model(model, settings.learning_rate, settings.jit_compile)
    timer = EpochTimer()
    callbacks: list[keras.callbacks.Callback] = [*mlflow_callbacks(), timer]
    if val is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_mean_accuracy", mode="max", patience=settings.patience, restore_best_weights=True,
        ))
    started = time.perf_counter()
    history = model.fit(train, validation_data=val, epochs=settings.epochs, callbacks=callbacks, verbose=2)
    seconds = time.perf_counter() - started
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    if history_file:
        write_csv_atomic(history_file, frame.round(6))
    best = float(frame["val_mean_accuracy"].max()) if "val_mean_accuracy" in frame else float(frame["mean_accuracy"].iloc[-1])
    return {
        "epochs_run": int(len(frame)),
        "best_val_mean_accuracy": round(best, 6),
        "train_clips": train.n_clips,
        "validation_clips": val.n_clips if val is not None else 0,
        "seconds": round(seconds, 2),
        "train_clips_per_s": round(train.n_clips * len(frame) / seconds, 3),
        "epoch_seconds": [round(t, 3) for t in timer.seconds],
    }


def backbone_of(model: keras.Model) -> keras.Model:
    """The nested per-frame CNN of a trait model."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ValueError(f"{model.name}: no backbone found")


def freeze_backbone_layers(model: keras.Model, k: int) -> int:
    """Freeze the first ``k`` weight-holding backbone layers (the paper's fine-tuning); returns how many."""
    from sales_ability.model.network import freeze_first_layers

    return freeze_first_layers(backbone_of(model), k)


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save as ``.keras`` atomically."""
    path = Path(path)
    with atomic_path(path.with_suffix(".keras")) as tmp:
        target = tmp.with_suffix(".keras")
        model.save(target)
        target.replace(tmp)
    return path


def load_model(path: str | Path) -> keras.Model:
    """Load a saved trait model for inference or further training (compile afresh)."""
    import sales_ability.model.network  # noqa: F401 - registers the custom layers

    return keras.saving.load_model(str(path), compile=False)

