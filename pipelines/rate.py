"""DVC stage rate: the model's test predictions -> sales scores, plus the knowledge base's validation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sales_ability.knowledge.rate import load_knowledge_base
from sales_ability.stage_runner import run_stage
from sales_ability.stages.rate import rate_and_validate

STAGE = "rate"


def main(predictions_file: str, kb_file: str, evaluate_metrics: str, raw_dir: str, rated_file: str, metrics_file: str,
         plots_dir: str, audit_dir: str) -> None:
    # the predictions carry each segment's participant and interview rating: no manifest to re-join; the audit's
    # categories come from the raw dataset's self-reports, which nothing before this stage reads
    import json

    from sales_ability.knowledge.audit import read_self_reports
    from sales_ability.registry.models import card_summary

    predictions = pd.read_csv(predictions_file, dtype={"clip_id": str, "participant_id": str})
    result = rate_and_validate(
        traits=predictions, kb=load_knowledge_base(kb_file), rated_file=Path(rated_file),
        metrics_file=Path(metrics_file), plots_dir=Path(plots_dir), source="model test predictions",
        audit_dir=Path(audit_dir), self_reports=read_self_reports(raw_dir),
        card=card_summary(json.loads(Path(evaluate_metrics).read_text())["test"]),
    )
    mean = "n/a" if result.mean_sales_score is None else f"{result.mean_sales_score:.2f}"
    print(f"rate: {result.rated} test clips rated, mean sales score {mean}")


if __name__ == "__main__":
    run_stage(STAGE, main)
