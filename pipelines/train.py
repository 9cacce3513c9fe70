"""DVC stage train: face tensors of the active dataset -> models/train (early stopping on validation)."""

from __future__ import annotations

from pathlib import Path

from sales_ability.config import load_params
from sales_ability.stage_runner import run_stage
from sales_ability.stages.train import run_train

STAGE = "train"


def main(faces: str, model_dir: str, metrics_file: str, history_file: str) -> None:
    result = run_train(Path(faces), Path(model_dir), Path(metrics_file), Path(history_file), load_params())
    print(f"train: {result['preset']}, {result['epochs_run']} epochs, best validation mean accuracy "
          f"{result['best_val_mean_accuracy']:.4f}, {result['train_clips_per_s']:.1f} clips/s")


if __name__ == "__main__":
    run_stage(STAGE, main)
