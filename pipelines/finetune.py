"""DVC stage finetune: the train model, tuned on the fine-tuning dataset's face tensors -> models/finetune."""

from __future__ import annotations

from pathlib import Path

from sales_ability.config import load_params
from sales_ability.stage_runner import run_stage
from sales_ability.stages.train import run_finetune

STAGE = "finetune"


def main(base_model: str, faces: str, model_dir: str, metrics_file: str, history_file: str) -> None:
    result = run_finetune(Path(base_model), Path(faces), Path(model_dir), Path(metrics_file), Path(history_file), load_params())
    print(f"finetune: {result['epochs_run']} epochs, best validation mean accuracy {result['best_val_mean_accuracy']:.4f}")


if __name__ == "__main__":
    run_stage(STAGE, main)
