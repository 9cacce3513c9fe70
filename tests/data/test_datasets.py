import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from sales_ability.config import FeaturizeParams, parse_params
from sales_ability.data.datasets import (
    FI_ANNOTATIONS,
    build_manifest,
    collected_manifest,
    first_impressions_manifest,
    load_fi_annotation,
)
from sales_ability.data.ipip50 import ITEM_COLUMNS
from sales_ability.errors import DatasetError
from sales_ability.traits import TRAITS


def _write_fi(folder: Path, clips: dict[str, list[str]], value: float = 0.5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, names in clips.items():
        payload = {k: {f"{n}.mp4": value for n in names} for k in (*TRAITS, "interview")}
        (folder / FI_ANNOTATIONS[split]).write_bytes(pickle.dumps(payload, protocol=2))
        for n in names:
            (folder / "videos" / f"{n}.mp4").parent.mkdir(exist_ok=True)
            (folder / "videos" / f"{n}.mp4").write_bytes(b"placeholder")


CLIPS = {"train": ["AAAAAAAAAAA.001", "AAAAAAAAAAA.002"], "validation": ["BBBBBBBBBBB.001"], "test": ["CCCCCCCCCCC.004"]}


def test_first_impressions_manifest(tmp_path: Path) -> None:
    _write_fi(tmp_path, CLIPS)
    m = first_impressions_manifest(tmp_path)
    assert m["clip_id"].tolist() == ["AAAAAAAAAAA.001", "AAAAAAAAAAA.002", "BBBBBBBBBBB.001", "CCCCCCCCCCC.004"]
    assert m["participant_id"].tolist() == ["AAAAAAAAAAA", "AAAAAAAAAAA", "BBBBBBBBBBB", "CCCCCCCCCCC"]
    assert m["split"].tolist() == ["train", "train", "validation", "test"]
    assert (m["interview"] == 0.5).all()
    params = parse_params({"dataset": {"name": "first_impressions", "split": "official"}})
    assert build_manifest(tmp_path, params)["split"].tolist() == m["split"].tolist()


def test_missing_annotation_file_is_named(tmp_path: Path) -> None:
    _write_fi(tmp_path, CLIPS)
    (tmp_path / "annotation_test.pkl").unlink()
    with pytest.raises(DatasetError, match="annotation_test.pkl: annotation file not found"):
        first_impressions_manifest(tmp_path)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_bad_label_names_file_and_clip(tmp_path: Path, bad: float) -> None:
    _write_fi(tmp_path, CLIPS)
    path = tmp_path / "annotation_validation.pkl"
    payload = pickle.loads(path.read_bytes())
    payload["openness"]["BBBBBBBBBBB.001.mp4"] = bad
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(DatasetError, match=r"annotation_validation.pkl: clip BBBBBBBBBBB.001: openness"):
        load_fi_annotation(path)


def test_labelled_clip_without_video_and_video_without_label(tmp_path: Path) -> None:
    _write_fi(tmp_path, CLIPS)
    (tmp_path / "videos" / "CCCCCCCCCCC.004.mp4").unlink()
    with pytest.raises(DatasetError, match=r"annotation_test.pkl: clip CCCCCCCCCCC.004.mp4 is labelled but has no video"):
        first_impressions_manifest(tmp_path)
    (tmp_path / "videos" / "CCCCCCCCCCC.004.mp4").write_bytes(b"x")
    (tmp_path / "videos" / "DDDDDDDDDDD.000.mp4").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"DDDDDDDDDDD.000.mp4: video has no label"):
        first_impressions_manifest(tmp_path)


def test_collected_manifest_labels_from_ipip(tmp_path: Path, demo_dir: Path) -> None:
    person = tmp_path / "abc123"
    person.mkdir()
    (person / "answer_1.mp4").write_bytes((demo_dir / "p000_c0.mp4").read_bytes())
    (person / "ipip50.json").write_text(json.dumps({"answers": {c: 3 for c in ITEM_COLUMNS}}))
    (tmp_path / "no_questionnaire_yet").mkdir()
    m = collected_manifest(tmp_path, FeaturizeParams(clip_seconds=2.0))
    # 64 frames at 15 fps = 4.27 s -> two clips of about 2 s
    assert m["clip_id"].tolist() == ["abc123_answer_1_c0", "abc123_answer_1_c1"]
    assert (m[list(TRAITS)] == 0.5).all().all()
    assert m["start_s"].tolist()[1] == pytest.approx(m["end_s"].tolist()[0])

    (person / "ipip50.json").write_text(json.dumps({"answers": {c: 3 for c in ITEM_COLUMNS[:-1]}}))
    skipped: dict[str, str] = {}
    assert collected_manifest(tmp_path, skipped=skipped).empty
    assert skipped["abc123"].endswith("ipip50.json: participant abc123: q50 is missing")
    assert "ipip50.json: missing" in skipped["no_questionnaire_yet"]


def test_fi_neuroticism_is_turned_into_true_neuroticism(tmp_path: Path) -> None:
    _write_fi(tmp_path, CLIPS, value=0.3)
    path = tmp_path / "annotation_training.pkl"
    converted = load_fi_annotation(path)
    raw = load_fi_annotation(path, neuroticism_is_stability=False)
    assert converted["neuroticism"].tolist() == pytest.approx([0.7, 0.7]) and raw["neuroticism"].tolist() == pytest.approx([0.3, 0.3])
    assert (converted["openness"] == 0.3).all() and (converted["interview"] == 0.3).all()
    on = build_manifest(tmp_path, parse_params({"dataset": {"name": "first_impressions", "split": "official"}}))
    off = build_manifest(tmp_path, parse_params({"dataset": {"name": "first_impressions", "split": "official",
                                                                "fi_neuroticism_is_stability": False}}))
    assert on["neuroticism"].tolist() == pytest.approx([0.7] * 4) and off["neuroticism"].tolist() == pytest.approx([0.3] * 4)


def test_demo_manifest_assigns_participant_splits(demo_dir: Path) -> None:
    m = build_manifest(demo_dir, parse_params({}))
    assert len(m) == 12
    assert (m.groupby("participant_id")["split"].nunique() == 1).all()
    assert not m[list(TRAITS)].isna().any().any()
    assert np.isnan(m["interview"]).all()
