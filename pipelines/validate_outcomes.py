"""DVC stage validate_outcomes: does the sales score predict the demo hires' (planted) outcomes?"""

from __future__ import annotations

from pathlib import Path

from sales_ability.config import load_params
from sales_ability.stage_runner import run_stage
from sales_ability.stages.validate_outcomes import run_validate_outcomes

STAGE = "validate_outcomes"


def main(model_dir: str, labelled_file: str, kb_file: str, raw_dir: str, out_dir: str, metrics_file: str) -> None:
    params = load_params()
    report = run_validate_outcomes(Path(model_dir), Path(labelled_file), Path(kb_file), Path(raw_dir), Path(out_dir), Path(metrics_file),
                                   params.demo.collected_seed, params.intervals.coverage)
    for outcome, text in report["verdicts"].items():
        print(f"validate_outcomes: {outcome}: {text}")
    for outcome, profile in report["profiles"].items():
        print(f"validate_outcomes: {outcome} profile {profile['reason']}")


if __name__ == "__main__":
    run_stage(STAGE, main)
