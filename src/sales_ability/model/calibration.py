"""A model's calibration set: its predictions and the true traits of held-out segments, per person.

Written beside ``model.keras`` by the train and finetune stages and logged with the model;
``sales_ability.knowledge.intervals`` turns it into conformal intervals. Its people are the ``calibration``
split when the split fractions give one (people neither trained nor early-stopped on: the conformal guarantee
holds), else the validation split, which early stopping also chose the weights on (slightly optimistic, and
said so in ``split``). With a calibration split, the validation people's predictions travel along as
``difficulty``: the set the adaptive widths' scale is estimated on, apart from the people calibrated on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sales_ability.io_utils import write_json_atomic
from sales_ability.traits import TRAITS

CALIBRATION_FILE = "calibration.json"  # beside model.keras: held-out predictions and truths


def calibration_set(predictions: pd.DataFrame, split: str = "validation", difficulty: pd.DataFrame | None = None) -> dict:
    """The calibration set of a ``predict_clips`` table of labelled ``split`` segments (with the answer each
    came from and its face share, for adaptive widths and reliability), and optionally the ``difficulty`` set
    (another split's table, of other people) the widths' scale is estimated on."""
    out = {
        "split": split,
        "n": int(len(predictions)),
        "participant_id": [str(p) for p in predictions["participant_id"]],
        "source": [str(s) for s in predictions["source"]] if "source" in predictions else None,
        "face_share": predictions["face_share"].round(4).tolist() if "face_share" in predictions else None,
        "predicted": {t: predictions[t].round(6).tolist() for t in TRAITS},
        "true": {t: predictions[f"true_{t}"].round(6).tolist() for t in TRAITS},
    }
    if difficulty is not None and len(difficulty):
        out["difficulty"] = calibration_set(difficulty, "validation")
    return out


def calibration_frame(calibration: dict) -> pd.DataFrame:
    """A calibration set as a ``predict_clips``-like table: ``participant_id``, ``source``, ``face_share``
    (1 where the set predates it), the traits and ``true_<trait>``."""
    n = int(calibration.get("n") or 0)
    people = calibration.get("participant_id") or [f"segment-{i}" for i in range(n)]  # old sets: no people
    frame = pd.DataFrame({"participant_id": people,
                          "source": calibration.get("source") or [f"{p}#{i}" for i, p in enumerate(people)],
                          "face_share": calibration.get("face_share") or [1.0] * n})
    for t in TRAITS:
        frame[t] = calibration["predicted"][t]
        frame[f"true_{t}"] = calibration["true"][t]
    return frame


def save_calibration(model_dir: str | Path, calibration: dict) -> Path:
    path = Path(model_dir) / CALIBRATION_FILE
    write_json_atomic(path, calibration)
    return path


def read_calibration(model_dir: str | Path) -> dict | None:
    """The calibration set stored beside a model, or None for a model saved without one."""
    path = Path(model_dir) / CALIBRATION_FILE
    return json.loads(path.read_text()) if path.is_file() else None
