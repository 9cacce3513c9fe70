"""The one predict path: a trait model and a featurized folder in, one row per clip out.

Evaluate (labelled test split), Table III, scoring and batch scoring (unlabelled inbox videos) all call
``predict_clips``, so a clip is predicted the same way wherever it is scored.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from sales_ability.traits import TRAITS

TRUE_COLUMNS: tuple[str, ...] = tuple(f"true_{t}" for t in TRAITS)


def predict_clips(
    model: keras.Model | str | Path,
    faces: str | Path,
    split: str | None = None,
    labelled_only: bool = False,
    batch_size: int = 8,
) -> pd.DataFrame:
    """Predict every clip of ``faces`` (of one ``split``, or all; labelled ones only if asked).

    Args:
        model: a loaded model, or the path of a ``.keras`` file.

    Returns:
        One row per clip in shard order: the clip's own columns (``CLIP_COLUMNS`` and ``interview``, so
        participant, split and groups travel on), the five predicted traits (rounded to 1e-6) and
        ``true_<trait>`` (NaN for an unlabelled clip).
    """
    from sales_ability.model.feed import FaceTensorDataset

    if not isinstance(model, keras.Model):
        from sales_ability.model.training import load_model

        model = load_model(model)
    data = FaceTensorDataset(faces, split, batch_size=batch_size, labelled_only=labelled_only)
    predicted = np.asarray(model.predict(data, verbose=0))
    frame = data.metadata()
    frame[list(TRAITS)] = predicted.round(6)
    frame[list(TRUE_COLUMNS)] = data.labels().round(6)
    return frame


def traits_and_labels(predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The predicted (N, 5) and true (N, 5) trait matrices of a ``predict_clips`` table."""
    return predictions[list(TRAITS)].to_numpy(float), predictions[list(TRUE_COLUMNS)].to_numpy(float)
