"""Rate a set of candidates and validate the knowledge base on them (the ``rate`` stage's logic)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sales_ability.data.face_tensors import GROUP_COLUMNS
from sales_ability.io_utils import write_csv_atomic, write_json_atomic
from sales_ability.knowledge.rate import rate
from sales_ability.knowledge.validation import (
    cluster_validation,
    fairness,
    interview_agreement,
    plot_clusters,
    plot_sales_scores,
)


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
) -> RatingSummary:
    """Rate ``traits`` (one row per clip; ``interview`` and group columns are used when present), write the
    rated CSV, validation metrics and figures; log them to MLflow."""
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
    clusters, arrays = cluster_validation(rated)
    metrics["clusters"] = clusters
    figures.append(plot_clusters(arrays, plots_dir / "clusters.png"))
    agreement = interview_agreement(rated, kb)
    if agreement is not None:
        metrics["interview_spearman"] = agreement
    groups = fairness(rated, [c for c in GROUP_COLUMNS if c in rated])
    if groups:
        metrics["fairness"] = groups
    write_json_atomic(metrics_file, {"knowledge_base": metrics})
    if log_to_mlflow:
        from sales_ability.serving.tracking import flatten_metrics, log_files, stage_run

        with stage_run("rate", tags={"traits_source": source, "knowledge_base": kb["knowledge_base"]}):
            import mlflow

            mlflow.log_metrics(flatten_metrics({k: v for k, v in metrics.items() if k != "rated"}))
            log_files([rated_file, metrics_file, *figures], artifact_path="knowledge_base")
    return RatingSummary(len(rated), len(bad), metrics["mean_sales_score"])
