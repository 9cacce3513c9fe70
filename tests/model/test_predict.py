"""The one predict path: every clip once, its own columns carried through, labels where there are any."""

from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.data.face_tensors import CLIP_COLUMNS
from sales_ability.model.network import build_model
from sales_ability.model.predict import TRUE_COLUMNS, predict_clips, traits_and_labels
from sales_ability.model.training import save_model
from sales_ability.traits import TRAITS
from tests.model.synthetic import write_face_tensors


def test_predict_clips_carries_each_clip_and_matches_the_model(tmp_path: Path) -> None:
    faces = write_face_tensors(tmp_path / "faces", n_clips=12, unlabelled=2)
    model = build_model("tiny", 4, 16, None, 0, None, None, 0.0)
    save_model(model, tmp_path / "model.keras")

    everything = predict_clips(tmp_path / "model.keras", faces)  # the scoring case: unlabelled clips too
    assert list(everything["clip_id"]) == [f"c{i:03d}" for i in range(12)]
    assert list(everything.columns[: len(CLIP_COLUMNS)]) == list(CLIP_COLUMNS)
    assert list(everything["participant_id"]) == [f"p{i:03d}" for i in range(12)]
    assert list(everything["gender"]) == ["f", "m"] * 6 and everything["age_band"].isna().all()
    assert everything[list(TRUE_COLUMNS)].iloc[-2:].isna().all().all()  # no labels: NaN, not dropped
    assert everything[list(TRUE_COLUMNS)].iloc[:-2].notna().all().all()

    from sales_ability.data.face_tensors import frames_array, read_face_tensors

    frames = frames_array(read_face_tensors(faces))
    direct = np.asarray(model.predict(frames, verbose=0))
    assert np.abs(everything[list(TRAITS)].to_numpy() - direct).max() < 1e-5  # the same model, rounded to 1e-6

    test = predict_clips(model, faces, "test", labelled_only=True)  # the evaluate case
    assert list(test["clip_id"]) == ["c009"] and (test["split"] == "test").all()
    pred, true = traits_and_labels(test)
    assert pred.shape == true.shape == (1, 5) and not np.isnan(true).any()
    pd.testing.assert_frame_equal(test.reset_index(drop=True),
                                  everything[everything["clip_id"] == "c009"].reset_index(drop=True))
