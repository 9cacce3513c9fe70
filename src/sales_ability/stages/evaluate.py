"""The evaluate stage: Eq. 1 and friends on the test split, predictions, figures, and the *candidate*.

The stage touches no registry (``dvc repro`` and ``dvc exp run`` are pure functions of their deps): it logs
the whole serving bundle as an MLflow Model in its run and names that run in ``models/candidate.json``.
Registration, comparison on held-out people and a person's decision follow (``operations.promotion``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.config import Params
from sales_ability.io_utils import write_csv_atomic, write_json_atomic, write_parquet_atomic
from sales_ability.knowledge.applicants import rate_applicants
from sales_ability.knowledge.intervals import fit_intervals, interval_coverage, people_needed, person_table, with_intervals
from sales_ability.knowledge.quantile_map import map_traits, maps_predictions
from sales_ability.knowledge.rate import load_knowledge_base, rate, sales_scores
from sales_ability.knowledge.reliability import split_half_reliability
from sales_ability.model.calibration import read_calibration
from sales_ability.model.evaluation import people_report, regression_report
from sales_ability.operations.promotion import write_candidate
from sales_ability.plotting import pyplot, save_figure
from sales_ability.registry.card import model_card
from sales_ability.registry.tracking import dvc_tags, flatten_metrics, log_face_tensor_splits, log_files, stage_run
from sales_ability.traits import TRAITS


def labelled_predictions(model_file: Path, faces: Path, split: str | None = None) -> pd.DataFrame:
    """The labelled clips of ``faces`` (of one ``split``, or all) predicted by a saved model (``predict_clips``'
    table)."""
    from sales_ability.model.predict import predict_clips

    return predict_clips(model_file, faces, split, labelled_only=True)


def test_report(model_dir: Path, faces: Path, labelled: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Test predictions of ``model_dir/model.keras`` (taken from ``labelled``, the model's predictions of every
    labelled clip, when given) and their regression report against the model's training means (the constant
    predictor)."""
    from sales_ability.model.predict import traits_and_labels

    if labelled is None:
        predictions = labelled_predictions(model_dir / "model.keras", faces, "test")
    else:
        predictions = labelled[labelled["split"] == "test"].reset_index(drop=True)
    means = list(json.loads((model_dir / "label_means.json").read_text()).values())
    report = regression_report(*traits_and_labels(predictions), means)
    report["people"] = people_report(predictions, means)  # the same figures per person, with bootstrap intervals
    return predictions, report


def plot_predicted_vs_true(pred: np.ndarray, true: np.ndarray, path: Path, title: str) -> Path:
    """One scatter per trait, with the identity line."""
    plt = pyplot()
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
    return save_figure(fig, path)


def _finite(value: float) -> float | None:
    return round(float(value), 4) if math.isfinite(value) else None


def interval_report(predictions: pd.DataFrame, calibration: dict | None, kb: dict, coverage: float) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Test segments and applicants with the model's conformal intervals (segments: calibrated on calibration
    segments; applicants: on calibration people, scaled per applicant), their measured coverage per trait and
    for the sales score at segment and at applicant level with exact 95% intervals, the applicants'
    half-widths (median and range: they adapt) and how many test applicants' answers disagree."""
    from scipy.stats import spearmanr

    intervals = fit_intervals(calibration, kb, coverage)
    segments = with_intervals(rate(predictions, kb)[0], kb, intervals.segment_half_widths())
    applicants = rate_applicants(predictions, kb, intervals)
    planted = sales_scores(applicants[[f"true_{t}" for t in TRAITS]].to_numpy(float), kb)
    rho = spearmanr(applicants["sales_score"], planted).statistic if len(applicants) > 2 else float("nan")
    halves = intervals.applicant_half_widths(person_table(predictions, kb))
    difficulty = intervals.difficulty
    flags = applicants["answers_disagree"].dropna()
    report = {
        "nominal": coverage, "calibration_split": intervals.split, "calibration_segments": intervals.n,
        "calibration_people": intervals.people, "people_needed": people_needed(coverage),
        "half_widths": {k: _finite(v) for k, v in intervals.segment_half_widths().items()},
        # per applicant, normalised conformal on the calibration people; None: too few people, the whole scale
        "applicant_half_widths": {k: {"median": _finite(halves[k].median()), "min": _finite(halves[k].min()),
                                      "max": _finite(halves[k].max())} for k in halves},
        "difficulty": None if difficulty is None else {"estimated_on": difficulty.split, "people": difficulty.people,
                                                       "floor": {k: round(v, 6) for k, v in difficulty.floor.items()},
                                                       "within": {k: round(v, 6) for k, v in difficulty.within.items()}},
        "segments": interval_coverage(segments, kb), "applicants": interval_coverage(applicants, kb),
        "applicant_sales_score_spearman": None if rho != rho else round(float(rho), 4),
        "answers_disagree": {"threshold": _finite(intervals.disagreement), "calibration_people": intervals.disagreement_people,
                             "flagged": int(flags.sum()), "of": int(len(flags))},
        "calibration_reliability": intervals.reliability,
    }
    return segments, applicants, report


def run_evaluate(
    model_dir: Path,
    pretrain_dir: Path,
    faces: Path,
    pretrain_faces: Path,
    kb_file: Path,
    metrics_file: Path,
    predictions_file: Path,
    applicants_file: Path,
    plots_dir: Path,
    params: Params,
    candidate_file: Path | None = None,
    labelled_file: Path | None = None,
) -> dict:
    """Score the final model (and the pretrained one) on the test split, write the metrics (with interval
    coverage), the predictions (every segment with its participant, split and groups, predicted traits with
    their intervals, true traits), the test applicants and a figure, then log them with the MLflow Model
    (``log_candidate``) and name that run in ``candidate_file``. The model's own outputs for every labelled
    clip of ``faces`` go to ``labelled_file`` (Parquet), so that the validate_outcomes stage reads them
    instead of loading the model again."""
    from sales_ability.model.predict import traits_and_labels

    labelled = labelled_predictions(model_dir / "model.keras", faces)  # every split: one predict for both stages
    if labelled_file is not None:
        write_parquet_atomic(labelled_file, labelled)
    predictions, test = test_report(model_dir, faces, labelled)  # Eq. 1 and friends: of the model's own outputs
    kb = load_knowledge_base(kb_file)
    calibration = read_calibration(model_dir)
    if maps_predictions(kb, calibration):  # served traits: mapped onto the labels' distribution
        raw = predictions[list(TRAITS)].add_prefix("model_")
        predictions = pd.concat([map_traits(predictions, kb, calibration), raw], axis=1)
    segments, applicants, test["intervals"] = interval_report(predictions, calibration, kb, params.intervals.coverage)
    test["reliability"] = split_half_reliability(predictions, kb)
    bounds = [f"{t}_{end}" for t in TRAITS for end in ("low", "high")]
    predictions = predictions.join(segments.set_index("clip_id")[bounds], on="clip_id")
    report = {"test": test, "pretrain_test": test_report(pretrain_dir, pretrain_faces)[1]}
    write_json_atomic(metrics_file, report)
    write_csv_atomic(predictions_file, predictions)
    write_csv_atomic(applicants_file, applicants)
    figure = plot_predicted_vs_true(*traits_and_labels(predictions), plots_dir / "predicted_vs_true.png",
                                    f"test: mean accuracy {test['mean_accuracy']:.4f} "
                                    f"(baseline {test['baseline_mean_accuracy']:.4f})")
    examples = list(dict.fromkeys(predictions["source"].astype(str)))[:2]
    run_id, model_id = log_candidate(model_dir, faces, report, [metrics_file, predictions_file, applicants_file, figure],
                                     params, kb_file, examples)
    if candidate_file is not None:
        write_candidate(candidate_file, run_id, "model", report["test"], params.registry.model_name, model_id)
    report["candidate_run_id"] = run_id
    return report


def log_candidate(model_dir: Path, faces: Path, report: dict, files: list[Path], params: Params, kb_file: Path,
                  example_paths: list[str]) -> tuple[str, str]:
    """One MLflow run: the metrics, ``files``, the model card and the MLflow Model with its serving contract
    (``serving.mlflow_model``: the network, label means, featurize settings, calibration, knowledge base,
    signature, input example) as the run's LoggedModel. No registry is touched. Returns the run's and the
    model's ids."""
    import mlflow

    from sales_ability.serving.mlflow_model import log_mlflow_model

    model_file = model_dir / "model.keras"
    with stage_run("evaluate", params={"model": str(model_file), "test_clips": report["test"]["n"],
                                       "model_name": params.registry.model_name, "intervals": params.intervals.model_dump()},
                   tags=dvc_tags([faces, model_dir])) as run:
        mlflow.log_metrics(flatten_metrics(report))
        log_face_tensor_splits(faces, ("test",))
        log_files(files, artifact_path="evaluation")
        card = model_card(params.registry.model_name, report["test"], {
            "train": f"{params.dataset.name} ({params.dataset.split} split)",
            "finetune": f"{params.finetune.dataset} ({params.finetune.split} split)",
            "test": f"{params.finetune.dataset} test split",
        }, params.effective_preset())
        mlflow.log_text(card, "model_card.md")
        model_id = log_mlflow_model(model_dir, kb_file, card, example_paths,
                                    tags={"test_mean_accuracy": f"{report['test']['mean_accuracy']:.6f}"})
        mlflow.set_tag("candidate", "awaiting proposal: sales-ability promote propose")
    return run.info.run_id, model_id
