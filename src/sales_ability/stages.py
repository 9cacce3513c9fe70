"""The model stages (train, finetune, evaluate) as functions: DVC's scripts and Airflow call these."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.config import FinetuneParams, Params, TrainParams
from sales_ability.io_utils import write_csv_atomic, write_json_atomic
from sales_ability.traits import TRAITS


def _settings(p: TrainParams | FinetuneParams):
    from sales_ability.training import FitSettings

    return FitSettings(
        epochs=p.epochs, batch_size=p.batch_size, learning_rate=p.learning_rate, patience=p.patience,
        augment_flip=p.augment_flip, seed=p.seed, jit_compile=getattr(p, "jit_compile", False),
    )


def _log_result(stage: str, result: dict, files: list[Path]) -> None:
    import mlflow

    from sales_ability.tracking import flatten_metrics, log_files

    mlflow.log_metrics(flatten_metrics(result))
    log_files(files, artifact_path=stage)


def _dvc_tags(paths: list[Path]) -> dict[str, str]:
    """MLflow tags with the DVC hashes of a stage's inputs."""
    from sales_ability.registry import dvc_input_hashes

    return {f"dvc.{k}": v for k, v in dvc_input_hashes([str(p) for p in paths]).items()}


def _train_means(faces: Path) -> list[float]:
    from sales_ability.data_feed import FaceTensorDataset

    return FaceTensorDataset(faces, "train").label_means()


def _fit_and_save(stage: str, model, faces: Path, means: list[float], settings_from: TrainParams | FinetuneParams,
                  model_dir: Path, metrics_file: Path, history_file: Path, run_params: dict, tags: dict, extra: dict) -> dict:
    """Train (tracked in an MLflow run named ``stage``), save the model with its training means, write metrics."""
    from sales_ability.tracking import stage_run
    from sales_ability.training import fit_model, save_model

    with stage_run(stage, params=run_params, tags=tags):
        result = fit_model(model, faces, _settings(settings_from), history_file) | extra
        save_model(model, model_dir / "model.keras")
        write_json_atomic(model_dir / "label_means.json", dict(zip(TRAITS, means, strict=True)))
        write_json_atomic(metrics_file, {stage: result})
        _log_result(stage, {k: v for k, v in result.items() if not isinstance(v, str)}, [history_file, metrics_file])
    return result


def run_train(faces: Path, model_dir: Path, metrics_file: Path, history_file: Path, params: Params) -> dict:
    """Phase 1: build the model (output bias at the training means) and train it on ``faces``."""
    from sales_ability.model import build_model, seed_everything

    preset = params.effective_preset()
    means = _train_means(faces)
    seed_everything(params.train.seed)  # before the build: the initial weights come from the seeded generator
    model = build_model(
        preset, params.featurize.n_frames, params.featurize.crop_size, params.effective_weights(),
        params.model.freeze_layers, params.model.lstm_units, params.model.dense_units, params.model.dropout,
        output_bias=means,
    )
    run_params = {"preset": preset, "dataset": params.dataset.name, "split": params.dataset.split,
                  **params.train.model_dump(), **params.model.model_dump(exclude={"preset", "weights"}),
                  "weights": params.effective_weights()}
    return _fit_and_save("train", model, faces, means, params.train, model_dir, metrics_file, history_file, run_params,
                         _dvc_tags([faces]), {"preset": preset, "parameters": int(model.count_params())})


def run_finetune(base_model: Path, faces: Path, model_dir: Path, metrics_file: Path, history_file: Path, params: Params) -> dict:
    """Phase 2: start from the train model, freeze the first K backbone layers, train on ``faces``."""
    from sales_ability.model import seed_everything
    from sales_ability.training import freeze_backbone_layers, load_model

    seed_everything(params.finetune.seed)
    model = load_model(base_model)
    frozen = freeze_backbone_layers(model, params.finetune.freeze_layers)
    return _fit_and_save("finetune", model, faces, _train_means(faces), params.finetune, model_dir, metrics_file, history_file,
                         {**params.finetune.model_dump(), "frozen_backbone_layers": frozen},
                         _dvc_tags([faces, base_model.parent]), {"frozen_backbone_layers": frozen})


def evaluate_model_file(model_file: Path, faces: Path, split: str = "test") -> tuple[list[str], np.ndarray, np.ndarray]:
    """Predict a split with a saved model."""
    from sales_ability.training import load_model, predict

    return predict(load_model(model_file), faces, split)


def plot_predicted_vs_true(pred: np.ndarray, true: np.ndarray, path: Path, title: str) -> Path:
    """One scatter per trait, with the identity line."""
    from sales_ability.validation import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.6))
    for j, (ax, trait) in enumerate(zip(axes, TRAITS, strict=True)):
        ax.scatter(true[:, j], pred[:, j], s=14, alpha=0.8)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_title(trait)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def run_evaluate(
    model_dir: Path,
    pretrain_dir: Path,
    faces: Path,
    pretrain_faces: Path,
    metrics_file: Path,
    predictions_file: Path,
    plots_dir: Path,
    params: Params,
    register: bool = True,
) -> dict:
    """Score the final model on the test split (Eq. 1, baseline, MSE, Pearson, CCC), write predictions and
    figures, log everything to MLflow, register the model and run the champion/challenger promotion."""
    from sales_ability.evaluation import mean_accuracy, regression_report
    from sales_ability.registry import model_card, register_and_promote
    from sales_ability.tracking import flatten_metrics, log_files, stage_run

    model_file = model_dir / "model.keras"
    ids, pred, true = evaluate_model_file(model_file, faces)
    means = list(json.loads((model_dir / "label_means.json").read_text()).values())
    report = {"test": regression_report(pred, true, means)}
    pre_ids, pre_pred, pre_true = evaluate_model_file(pretrain_dir / "model.keras", pretrain_faces)
    pre_means = list(json.loads((pretrain_dir / "label_means.json").read_text()).values())
    report["pretrain_test"] = regression_report(pre_pred, pre_true, pre_means)
    write_json_atomic(metrics_file, report)
    table = pd.DataFrame(pred, columns=list(TRAITS)).round(6)
    table.insert(0, "clip_id", ids)
    for j, trait in enumerate(TRAITS):
        table[f"true_{trait}"] = true[:, j].round(6)
    write_csv_atomic(predictions_file, table)
    figure = plot_predicted_vs_true(pred, true, plots_dir / "predicted_vs_true.png",
                                    f"test: mean accuracy {report['test']['mean_accuracy']:.4f} "
                                    f"(baseline {report['test']['baseline_mean_accuracy']:.4f})")
    decision = None
    tags = _dvc_tags([faces, model_dir])
    with stage_run("evaluate", params={"model": str(model_file), "test_clips": len(ids)}, tags=tags) as run:
        import mlflow

        mlflow.log_metrics(flatten_metrics(report))
        log_files([metrics_file, predictions_file, figure], artifact_path="evaluation")
        card = model_card(params.registry.model_name, report["test"], {
            "train": f"{params.dataset.name} ({params.dataset.split} split)",
            "finetune": f"{params.finetune.dataset} ({params.finetune.split} split)",
            "test": f"{params.finetune.dataset} test split",
        }, params.effective_preset())
        mlflow.log_text(card, "model/model_card.md")
        log_files([model_file, model_dir / "label_means.json"], artifact_path="model")
        if register:
            def champion_accuracy(uri: str) -> float:
                from sales_ability.registry import download_model

                _, p, t = evaluate_model_file(download_model(uri), faces)
                return mean_accuracy(p, t)

            decision = register_and_promote(
                run.info.run_id, "model", report["test"]["mean_accuracy"], champion_accuracy,
                params.registry.promotion_margin, card, tags={"preset": params.effective_preset()},
                model_name=params.registry.model_name,
            )
            mlflow.log_dict(decision.to_dict(), "promotion.json")
            mlflow.set_tag("promotion", "champion" if decision.promoted else "challenger")
            mlflow.log_metric("promoted", float(decision.promoted))
    if decision is not None:
        report["promotion"] = decision.to_dict()
    return report
