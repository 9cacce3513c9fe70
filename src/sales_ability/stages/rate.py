"""Rate a set of candidates and validate the knowledge base on them (the ``rate`` stage's logic)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sales_ability.io_utils import write_csv_atomic, write_json_atomic
from sales_ability.knowledge.applicants import rate_applicants
from sales_ability.knowledge.audit import lowest_impact_ratios, read_self_reports
from sales_ability.knowledge.intervals import fit_intervals
from sales_ability.knowledge.rate import load_knowledge_base, rate
from sales_ability.knowledge.validation import (
    bin_shares,
    cluster_validation,
    interview_agreement,
    plot_clusters,
    plot_sales_scores,
)
from sales_ability.registry.card import card_summary
from sales_ability.registry.tracking import flatten_metrics, log_files, stage_run
from sales_ability.results.audit_report import write_audit


@dataclass(frozen=True)
class RatingSummary:
    """What the rate stage produced."""

    rated: int
    bad_rows: int
    mean_sales_score: float | None


def rate_and_validate(
    traits: pd.DataFrame,
    kb: dict,
    rated_file: Path,
    metrics_file: Path,
    plots_dir: Path,
    source: str,
    log_to_mlflow: bool = True,
    audit_dir: Path | None = None,
    self_reports: pd.DataFrame | None = None,
    card: str = "",
) -> RatingSummary:
    """Rate ``traits`` (one row per segment; ``interview`` is used when present), write the rated CSV, validation
    metrics and figures; with ``audit_dir``, the bias audit of the applicants (``audit.csv``, ``audit.html``:
    per applicant, their categories from ``self_reports``); log them to MLflow."""
    rated, bad = rate(traits, kb)
    write_csv_atomic(rated_file, rated)
    metrics: dict = {
        "rated": int(len(rated)),
        "bad_rows": int(len(bad)),
        "mean_sales_score": round(float(rated["sales_score"].mean()), 4) if len(rated) else None,
        "knowledge_base": kb["knowledge_base"],
        "traits_source": source,
    }
    figures = [plot_sales_scores(rated, plots_dir / "sales_scores.png")]
    clusters, arrays = cluster_validation(rated, kb=kb)
    metrics["clusters"] = clusters
    metrics["bin_shares"] = bin_shares(rated)
    figures.append(plot_clusters(arrays, plots_dir / "clusters.png"))
    agreement = interview_agreement(rated, kb)
    if agreement is not None:
        metrics["interview_spearman"] = agreement
    if audit_dir is not None:
        applicants = rate_applicants(traits, kb, fit_intervals(None, kb, 0.9))
        reports = self_reports if self_reports is not None else pd.DataFrame(columns=["participant_id", "sex", "race_ethnicity"])
        applicants = applicants.merge(reports.rename(columns={"participant_id": "applicant_id"}), on="applicant_id", how="left")
        table = write_audit(applicants, audit_dir, source, card)
        metrics["audit"] = {"applicants": int(len(applicants)), **lowest_impact_ratios(table)}
        figures += [audit_dir / "audit.csv", audit_dir / "audit.html"]
    write_json_atomic(metrics_file, {"knowledge_base": metrics})
    if log_to_mlflow:
        with stage_run("rate", tags={"traits_source": source, "knowledge_base": kb["knowledge_base"]}):
            import mlflow

            mlflow.log_metrics(flatten_metrics({k: v for k, v in metrics.items() if k != "rated"}))
            log_files([rated_file, metrics_file, *figures], artifact_path="knowledge_base")
    return RatingSummary(len(rated), len(bad), metrics["mean_sales_score"])


def rate_test_predictions(predictions_file: Path, kb_file: Path, evaluate_metrics: Path, raw_dir: Path, rated_file: Path,
                          metrics_file: Path, plots_dir: Path, audit_dir: Path) -> RatingSummary:
    """The ``rate`` stage: the model's test predictions (each segment carries its participant and interview rating,
    so no manifest is joined again) rated and validated, with the bias audit over the raw dataset's self-reports
    (which nothing before this stage reads) and the model card's summary."""
    import json

    predictions = pd.read_csv(predictions_file, dtype={"clip_id": str, "participant_id": str})
    return rate_and_validate(
        traits=predictions, kb=load_knowledge_base(kb_file), rated_file=rated_file, metrics_file=metrics_file,
        plots_dir=plots_dir, source="model test predictions", audit_dir=audit_dir,
        self_reports=read_self_reports(raw_dir), card=card_summary(json.loads(evaluate_metrics.read_text())["test"]),
    )
