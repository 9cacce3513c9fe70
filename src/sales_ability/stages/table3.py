"""The paper's Table III, reproduced: train every backbone preset on the same data and compare them.

One MLflow parent run holds a child run per preset, so the MLflow UI's compare view shows the table.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from sales_ability.config import Params
from sales_ability.io_utils import write_csv_atomic, write_json_atomic
from sales_ability.model.evaluation import regression_report
from sales_ability.registry.tracking import EXPERIMENT, flatten_metrics, git_commit, tracking_uri


def run_table3(faces: Path, presets: list[str], params: Params, out_csv: Path, metrics_file: Path, epochs: int | None = None) -> pd.DataFrame:
    """Train and evaluate each preset; write the comparison as CSV and DVC metrics, and to MLflow.

    Args:
        faces: featurized folder with train / validation / test splits.
        presets: keys of ``sales_ability.model.PRESETS``.
        params: model and train settings (the preset is replaced by each entry).
        out_csv, metrics_file: where the table goes.
        epochs: override ``train.epochs`` (quick sweeps).
    """
    import mlflow

    from sales_ability.model.feed import FaceTensorDataset
    from sales_ability.model.network import PRESETS, build_model, seed_everything
    from sales_ability.model.predict import predict_clips, traits_and_labels
    from sales_ability.model.training import FitSettings, fit_model

    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        raise ValueError(f"unknown presets {', '.join(unknown)}; known: {', '.join(PRESETS)}")
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    means = FaceTensorDataset(faces, "train").label_means()
    t = params.train
    settings = FitSettings(t.epochs if epochs is None else epochs, t.batch_size, t.learning_rate, t.patience, t.augment_flip, t.seed, t.jit_compile)
    rows = []
    with mlflow.start_run(run_name="table3") as parent:
        mlflow.set_tags({"stage": "table3", "git_commit": git_commit() or "", "dataset": params.dataset.name})
        mlflow.log_params({"presets": ",".join(presets), "epochs": settings.epochs})
        for name in presets:
            preset = PRESETS[name]
            with mlflow.start_run(run_name=f"table3/{name}", nested=True):
                seed_everything(t.seed)  # every preset starts from the same seed: the sweep repeats
                weights = None if preset.backbone == "small" else params.model.weights  # no ImageNet set for it
                model = build_model(name, params.featurize.n_frames, params.featurize.crop_size, weights,
                                    params.model.freeze_layers, None, None, params.model.dropout, output_bias=means)
                mlflow.log_params({"preset": name, "backbone": preset.backbone,
                                   "lstm_units": list(preset.lstm_units), "dense_units": list(preset.dense_units)})
                started = time.perf_counter()
                fit = fit_model(model, faces, settings)
                train_seconds = time.perf_counter() - started
                report = regression_report(*traits_and_labels(predict_clips(model, faces, "test", labelled_only=True)), means)
                row = {
                    "preset": name, "backbone": preset.backbone,
                    "lstm": "+".join(map(str, preset.lstm_units)), "dense": "+".join(map(str, preset.dense_units)),
                    "parameters": int(model.count_params()), "epochs_run": fit["epochs_run"],
                    "train_seconds": round(train_seconds, 1), "mse": report["mse"],
                    "mean_accuracy": report["mean_accuracy"], "baseline_mean_accuracy": report["baseline_mean_accuracy"],
                    "paper_mse": preset.paper_mse, "paper_mean_accuracy": preset.paper_mean_accuracy,
                }
                mlflow.log_metrics(flatten_metrics({k: v for k, v in row.items() if isinstance(v, int | float) and v is not None}))
                rows.append(row)
        table = pd.DataFrame(rows)
        write_csv_atomic(out_csv, table)
        write_json_atomic(metrics_file, {"table3": {r["preset"]: {k: v for k, v in r.items() if k != "preset"} for r in rows}})
        mlflow.log_artifact(str(out_csv))
        mlflow.set_tag("parent_run_id", parent.info.run_id)
    return table
