"""DVC stage rate: the model's test predictions -> sales scores, plus the knowledge base's validation and the audit."""

from __future__ import annotations

from pathlib import Path

from sales_ability.stage_runner import run_stage
from sales_ability.stages.rate import rate_test_predictions

STAGE = "rate"


def main(predictions_file: str, kb_file: str, evaluate_metrics: str, raw_dir: str, rated_file: str, metrics_file: str,
         plots_dir: str, audit_dir: str) -> None:
    result = rate_test_predictions(*(Path(p) for p in (predictions_file, kb_file, evaluate_metrics, raw_dir, rated_file,
                                                        metrics_file, plots_dir, audit_dir)))
    mean = "n/a" if result.mean_sales_score is None else f"{result.mean_sales_score:.2f}"
    print(f"rate: {result.rated} test clips rated, mean sales score {mean}")


if __name__ == "__main__":
    run_stage(STAGE, main)
