"""DVC stage rate: the model's test predictions -> sales scores, plus the knowledge base's validation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sales_ability.data.datasets import GROUP_COLUMNS
from sales_ability.knowledge.rate import load_knowledge_base
from sales_ability.stage_runner import run_stage
from sales_ability.stages.rate import rate_and_validate

STAGE = "rate"


def main(predictions_file: str, manifest_file: str, kb_file: str, rated_file: str, metrics_file: str, plots_dir: str) -> None:
    predictions = pd.read_csv(predictions_file, dtype={"clip_id": str})
    manifest = pd.read_csv(manifest_file, dtype={"clip_id": str, "participant_id": str})
    extra = [c for c in ("participant_id", "interview", *GROUP_COLUMNS) if c in manifest]
    traits = predictions.merge(manifest[["clip_id", *extra]], on="clip_id", how="left")
    result = rate_and_validate(
        traits=traits, kb=load_knowledge_base(kb_file), rated_file=Path(rated_file),
        metrics_file=Path(metrics_file), plots_dir=Path(plots_dir), source="model test predictions",
    )
    print(f"rate: {result['rated']} test clips rated, mean sales score {result['mean_sales_score']:.2f}")


if __name__ == "__main__":
    run_stage(STAGE, main)
