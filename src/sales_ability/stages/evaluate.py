"""The evaluate stage: Eq. 1 and friends on the test split, predictions, figures, the registry's promotion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.config import Params
from sales_ability.io_utils import write_csv_atomic, write_json_atomic
from sales_ability.stages.train import _dvc_tags
from sales_ability.traits import TRAITS


def evaluate_model_file(model_file: Path, faces: Path, split: str = "test") -> tuple[list[str], np.ndarray, np.ndarray]:
    """Predict a split with a saved model."""
    from sales_ability.model.training import load_model, predict

    return predict(load_model(model_file), faces, split)


def plot_predicted_vs_true(pred: np.ndarray, true: np.ndarray, path: Path, title: str) -> Path:
    """One scatter per trait, with the identity line."""
    from sales_ability.knowledge.validation import _pyplot, _save

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
    from sales_ability.model.evaluation import mean_accuracy, regression_report
    from sales_ability.serving.registry import model_card, register_and_promote
    from sales_ability.serving.tracking import flatten_metrics, log_files, stage_run

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
                from sales_ability.serving.registry import download_model

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
