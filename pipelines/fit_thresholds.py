"""DVC stage fit_thresholds: the training labels of the active dataset -> knowledge base (KB.json)."""

from __future__ import annotations

from pathlib import Path

from sales_ability.config import load_params
from sales_ability.stage_runner import run_stage
from sales_ability.stages.fit_thresholds import run_fit_thresholds

STAGE = "fit_thresholds"


def main(manifest_file: str, kb_file: str, figure_file: str) -> None:
    clips = run_fit_thresholds(Path(manifest_file), Path(kb_file), Path(figure_file), load_params().knowledge_base)
    print(f"fit_thresholds: {clips} training clips -> {kb_file}")


if __name__ == "__main__":
    run_stage(STAGE, main)
