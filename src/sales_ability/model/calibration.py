"""A model's calibration set: its predictions and the true traits of every validation segment.

Written beside ``model.keras`` by the train and finetune stages (the validation split, never test) and logged
with the model; ``sales_ability.knowledge.intervals`` turns it into conformal intervals.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sales_ability.io_utils import write_json_atomic
from sales_ability.traits import TRAITS

CALIBRATION_FILE = "calibration.json"  # beside model.keras: validation predictions and truths


def calibration_set(predictions: pd.DataFrame, split: str = "validation") -> dict:
    """The calibration set of a ``predict_clips`` table of labelled ``split`` segments."""
    return {
        "split": split,
        "n": int(len(predictions)),
        "participant_id": [str(p) for p in predictions["participant_id"]],
        "predicted": {t: predictions[t].round(6).tolist() for t in TRAITS},
        "true": {t: predictions[f"true_{t}"].round(6).tolist() for t in TRAITS},
    }


def save_calibration(model_dir: str | Path, calibration: dict) -> Path:
    path = Path(model_dir) / CALIBRATION_FILE
    write_json_atomic(path, calibration)
    return path


def read_calibration(model_dir: str | Path) -> dict | None:
    """The calibration set stored beside a model, or None for a model saved without one."""
    path = Path(model_dir) / CALIBRATION_FILE
    return json.loads(path.read_text()) if path.is_file() else None
