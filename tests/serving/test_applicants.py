"""Applicants end to end on real browser recordings: Chrome's WebM (no Duration, no Cues) through the
collected adapter, featurize and score; segmentation shared with training; identity across folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sales_ability.config import FeaturizeParams
from sales_ability.data.datasets import collected_manifest, manifest_from_inputs
from sales_ability.data.ipip50 import ITEM_COLUMNS
from sales_ability.data.segments import segment_bounds
from sales_ability.data.video import iter_segments, probe_video, remux, write_video
from sales_ability.knowledge.rate import paper_knowledge_base

SETTINGS = FeaturizeParams(clip_seconds=4.0)  # what tiny_model was "trained" with (tests/conftest.py)


def test_chrome_recording_has_no_header_count_but_every_frame_is_counted(chrome_takes: list[Path], tmp_path: Path) -> None:
    import av

    take = chrome_takes[2]  # 9 s
    with av.open(str(take)) as container:  # what Chrome wrote: no duration, no frame count
        assert container.duration is None and container.streams.video[0].frames == 0
    info = probe_video(take)
    assert info.header_frames == 0 and 8.5 < info.duration_s < 9.5
    assert info.n_frames == pytest.approx(30 * info.duration_s, rel=0.1)  # the fake camera's 30 fps
    fixed = remux(take, tmp_path / "fixed.webm")  # what the website does at the door: no re-encoding
    with av.open(str(fixed)) as container:
        assert container.duration is not None
    assert b"\x1c\x53\xbb\x6b" in fixed.read_bytes()  # the Cues element: seekable
    again = probe_video(fixed)
    assert (again.n_frames, again.duration_s) == (info.n_frames, info.duration_s)  # same frames, same segments


def _export(root: Path, takes: list[Path]) -> Path:
    """A website export of three applicants, each with two answers of their own Chrome take."""
    for i, take in enumerate(takes):
        person = root / f"applicant{i}"
        person.mkdir(parents=True)
        for n in (1, 2):
            shutil.copy(take, person / f"answer_{n}.webm")
        (person / "ipip50.json").write_text(json.dumps({"answers": {c: 1 + (i + k) % 5 for k, c in enumerate(ITEM_COLUMNS)}}))
    return root


def test_chrome_export_is_kept_for_fine_tuning(chrome_takes: list[Path], tmp_path: Path) -> None:
    skipped: dict[str, str] = {}
    manifest = collected_manifest(_export(tmp_path / "export", chrome_takes), SETTINGS, skipped)
    assert skipped == {} and manifest["participant_id"].nunique() == 3  # nobody dropped
    per_answer = manifest.groupby("source").size()
    assert sorted(per_answer.unique()) == [1, 2]  # 5 s -> 1 segment of 4 s, 9 s -> 2
    assert manifest["clip_id"].is_unique and manifest["end_s"].notna().all()


def test_chrome_export_scores_into_three_applicants_each_with_their_own_strips(
        chrome_takes: list[Path], tiny_model: Path, tmp_path: Path) -> None:
    from sales_ability.serving.scoring import score_videos

    inbox = _export(tmp_path / "inbox", chrome_takes)
    summary = score_videos([inbox], tmp_path / "out", paper_knowledge_base(), str(tiny_model), progress=False)
    assert (summary.applicants, summary.rejected) == (3, 0)
    applicants = pd.read_csv(tmp_path / "out" / "applicants.csv")
    assert sorted(applicants["applicant_id"]) == ["applicant0", "applicant1", "applicant2"]
    assert applicants["answers"].tolist() == [2, 2, 2] and sorted(applicants["segments"]) == [2, 2, 4]
    assert (applicants["sales_score_low"] <= applicants["sales_score"]).all()
    assert (applicants["sales_score"] <= applicants["sales_score_high"]).all()
    assert (applicants["sales_score_high"] - applicants["sales_score_low"] > 0).all()
    assert applicants["sales_score"].is_monotonic_decreasing  # ranked
    results = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert len(results) == 8 and results["clip_id"].is_unique
    assert (results["clip_id"].str.split("_answer_").str[0] == results["applicant_id"]).all()
    for t in ("openness", "neuroticism"):
        assert (results[f"{t}_low"] <= results[t]).all() and (results[t] <= results[f"{t}_high"]).all()
    strips = pd.read_parquet(tmp_path / "out" / "face_strips.parquet")
    assert sorted(strips["clip_id"]) == sorted(results["clip_id"])  # one strip per segment, nobody else's
    report = (tmp_path / "out" / "report.html").read_text()
    assert "3 applicants scored (8 segments of 6 answers)" in report
    assert report.count('src="data:image/png;base64,') == 8
    assert report.count('class="applicant"') == 3


def test_a_60_s_answer_becomes_4_segments_of_60_frames_from_one_decode(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), i % 256, np.uint8) for i in range(60 * 5)]  # 60 s at 5 fps
    video = write_video(tmp_path / "person" / "answer_1.mp4", frames, fps=5)
    manifest = manifest_from_inputs([tmp_path], FeaturizeParams())  # clip_seconds 15
    assert manifest["clip_id"].tolist() == [f"person_answer_1_c{k}" for k in range(4)]
    assert manifest[["start_s", "end_s"]].values.tolist() == [[0, 15], [15, 30], [30, 45], [45, 60]]
    info, segments = iter_segments(video, list(zip(manifest["start_s"], manifest["end_s"], strict=True)), 60)
    segments = list(segments)
    assert [s.error for s in segments] == [None] * 4
    for k, s in enumerate(segments):
        assert len(s.frames) == 60 and s.frame_index.min() >= 75 * k and s.frame_index.max() < 75 * (k + 1)
        assert len(np.unique(s.frame_index)) == 60  # 4 frames/s: the training's density at 15 s
    assert info.n_frames == 300


def test_segment_rules() -> None:
    assert segment_bounds(60.0, 15.0) == [(0.0, 15.0), (15.0, 30.0), (30.0, 45.0), (45.0, 60.0)]
    assert segment_bounds(20.0, 15.0) == [(0.0, 20.0)]
    assert segment_bounds(5.0, 15.0) == [(0.0, 5.0)]
    assert len(segment_bounds(29.0, 15.0)) == 2 and len(segment_bounds(29.0, 15.0, "floor")) == 1


def test_identity_is_unique_across_folders(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), 100, np.uint8)] * 80
    for rel in ("a/answer_1.mp4", "b/answer_1.mp4", "x/one.mp4", "y/one.mp4", "batch1/ann/answer_1.mp4", "batch2/ann/answer_2.mp4"):
        write_video(tmp_path / rel, frames, fps=15)
    manifest = manifest_from_inputs([tmp_path], FeaturizeParams())
    assert manifest["clip_id"].is_unique
    by_source = dict(zip(manifest["source"].map(lambda s: str(Path(s).relative_to(tmp_path))), manifest["participant_id"], strict=True))
    assert by_source["a/answer_1.mp4"] == "a" and by_source["b/answer_1.mp4"] == "b"
    assert by_source["x/one.mp4"] != by_source["y/one.mp4"] and by_source["x/one.mp4"].startswith("one~")
    assert by_source["batch1/ann/answer_1.mp4"] != by_source["batch2/ann/answer_2.mp4"]  # two folders named ann


def test_model_with_other_segmentation_is_refused(tiny_model: Path) -> None:
    from sales_ability.errors import ModelError
    from sales_ability.registry.models import resolve_model

    model = resolve_model(str(tiny_model))
    assert model.featurize.clip_seconds == 4.0 and model.calibration["n"] == 40
    with pytest.raises(ModelError, match=r"clip_seconds \(model 4.0, given 15.0\)"):
        model.featurize_settings(FeaturizeParams())
    # the face detector is a featurize setting too: a model trained on YuNet's crops refuses MTCNN's
    assert model.featurize.detector == "yunet"
    with pytest.raises(ModelError, match=r"detector \(model 'yunet', given 'mtcnn'\)"):
        model.featurize_settings(FeaturizeParams(clip_seconds=4.0, detector="mtcnn"))


def test_a_configuration_error_fails_before_keras_is_imported(tiny_model: Path, demo_dir: Path, tmp_path: Path) -> None:
    """Scoring loads Keras (seconds) in a thread while it featurizes, but only after the model and its featurize
    settings are checked: a missing model or other settings are refused in a process that never imported Keras."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys\n"
        "from sales_ability.config import FeaturizeParams\n"
        "from sales_ability.errors import ModelError\n"
        "from sales_ability.knowledge.rate import paper_knowledge_base\n"
        "from sales_ability.serving.scoring import score_videos\n"
        "for model, params in ((sys.argv[2], None), (sys.argv[3], FeaturizeParams())):\n"
        "    try:\n"
        "        score_videos([sys.argv[1]], sys.argv[4], paper_knowledge_base(), model, params, progress=False)\n"
        "    except ModelError as err:\n"
        "        print('refused:', err)\n"
        "print('keras imported:', 'keras' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(demo_dir / "p000_c0.mp4"), str(tmp_path / "no_such_model.keras"),
                          str(tiny_model), str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    refusals = [line for line in run.stdout.splitlines() if line.startswith("refused:")]
    assert len(refusals) == 2, run.stdout
    assert "clip_seconds (model 4.0, given 15.0)" in refusals[1]
    assert "keras imported: False" in run.stdout


def test_no_segment_is_shorter_than_three_quarters_of_clip_seconds() -> None:
    """The floor the website enforces at upload is the shortest segment cutting makes: above it, every
    answer is seen at the training's density or close to it (at most 15 / 11.25 times it)."""
    from sales_ability.data.segments import shortest_segment_seconds

    assert shortest_segment_seconds(FeaturizeParams()) == 11.25
    for duration in np.arange(11.25, 200.0, 0.05):
        assert min(end - start for start, end in segment_bounds(float(duration), 15.0)) >= 11.25 - 1e-3
