"""DVC stage rate: test-split traits -> sales scores, plus the knowledge base's validation and figures.

Until the model stages exist the traits are the test labels themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from sales_ability.knowledge_base import load_knowledge_base
from sales_ability.rating import rate_and_validate


def main(manifest_file: str, kb_file: str, rated_file: str, metrics_file: str, plots_dir: str) -> None:
    manifest = pd.read_csv(manifest_file, dtype={"clip_id": str, "participant_id": str, "split": str})
    test = manifest[manifest["split"] == "test"]
    result = rate_and_validate(
        traits=test, kb=load_knowledge_base(kb_file), rated_file=Path(rated_file),
        metrics_file=Path(metrics_file), plots_dir=Path(plots_dir), source="test labels",
    )
    print(f"rate: {result['rated']} test clips rated, mean sales score {result['mean_sales_score']:.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
