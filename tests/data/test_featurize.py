import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from sales_ability.data.demo_data import face_track, render_clip, write_demo_dataset
from sales_ability.data.face_tensors import (
    face_tensor_schema,
    frames_array,
    read_face_tensors,
)
from sales_ability.data.video import write_video
from sales_ability.traits import TRAITS
from tests.conftest import run_cli


def test_schema_round_trips(featurized_demo: Path) -> None:
    shards = sorted(featurized_demo.glob("part-*.parquet"))
    assert len(shards) == 3  # 12 clips in shards of 5
    table = pq.read_table(shards[0])
    assert table.schema.equals(face_tensor_schema(), check_metadata=False)
    frames = frames_array(table)
    assert frames.shape == (5, 60, 64, 64, 3) and frames.dtype == np.uint8
    row = table.slice(0, 1).to_pylist()[0]
    assert len(row["frame_index"]) == 60 and len(row["face_found"]) == 60 and len(row["boxes"][0]) == 4
    assert row["detector"] == "yunet" and row["split"] is None
    assert row["fps"] == 15 and (row["width"], row["height"]) == (320, 240) and row["n_frames"] == 64
    for trait in TRAITS:
        assert 0 <= row[trait] <= 1


def test_crops_land_on_the_face(featurized_demo: Path) -> None:
    table = read_face_tensors(featurized_demo, columns=["clip_id", "boxes", "face_found", "width", "height"])
    cx, cy = face_track(320, 240)
    for row in table.to_pylist():
        assert sum(row["face_found"]) >= 55
        boxes = np.array([b for b, f in zip(row["boxes"], row["face_found"], strict=True) if f])
        # the 110 px face patch sways at most 10 px and bobs at most 5 px around its resting centre
        # (and breathes 3%): every box must lie (mostly: YuNet's boxes reach past the patch's chin) inside the area
        # the patch can cover
        half = 110 * 1.03 / 2
        x0, x1, y0, y1 = cx - half - 10, cx + half + 10, cy - half - 5, cy + half + 5
        ix = np.clip(np.minimum(boxes[:, 0] + boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
        iy = np.clip(np.minimum(boxes[:, 1] + boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
        inside = ix * iy / (boxes[:, 2] * boxes[:, 3])
        assert inside.min() > 0.8, (row["clip_id"], inside.min())
        assert 40 < boxes[:, 2].mean() < 115


def _bad_and_good_folder(root: Path, demo_dir: Path) -> dict[str, str]:
    """Files and the outcome each must get: 'kept' or a word of the reject reason."""
    import av  # noqa: F401 - PyAV writes the webm

    root.mkdir()
    (root / "zero.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 50)
    good = (demo_dir / "p000_c0.mp4").read_bytes()
    (root / "good.mp4").write_bytes(good)
    (root / "truncated.mp4").write_bytes(good[: len(good) // 3])
    rng = np.random.default_rng(0)
    background = np.full((240, 320, 3), 120, np.float32)
    write_video(root / "noface.mp4", [np.clip(background + rng.normal(0, 8, background.shape), 0, 255).astype(np.uint8) for _ in range(64)], 15)
    import cv2
    from skimage import data

    face = cv2.resize(data.astronaut()[20:200, 140:310], (110, 110))
    labels = dict.fromkeys(TRAITS, 0.5)
    write_video(root / "short.mp4", render_clip(face, background, labels, 30, 15, rng), 15)
    (root / "sub").mkdir()
    write_video(root / "sub" / "recorded.webm", render_clip(face, background, labels, 64, 15, rng), 15, codec="libvpx")
    # the same 4.3 s as an applicant's answer: one rule with training's cutting (0.75 x 15 s), so refused; a loose
    # video (above) is a clip already cut, as First Impressions' are, and is taken as it is
    (root / "ann").mkdir()
    (root / "ann" / "answer_1.webm").write_bytes((root / "sub" / "recorded.webm").read_bytes())
    return {"zero.mp4": "empty", "text.mp4": "not a readable video", "good.mp4": "kept", "truncated.mp4": "container could not be opened",  # its index (moov) was cut off
            "noface.mp4": "no face", "short.mp4": "too short", "recorded.webm": "kept",
            "answer_1.webm": "answer too short: 4.3 s, under the 11.25 s one segment needs"}


def test_good_and_bad_files_are_sorted(tmp_path: Path, demo_dir: Path) -> None:
    expected = _bad_and_good_folder(tmp_path / "in", demo_dir)
    run = run_cli("featurize", tmp_path / "in", "--out", tmp_path / "out", "--params", tmp_path / "none.yaml")
    assert run.returncode == 0, run.stderr
    assert "kept 2, rejected 6" in run.stderr
    kept = set(read_face_tensors(tmp_path / "out", columns=["clip_id"]).column("clip_id").to_pylist())
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv")
    assert list(rejects.columns)[:2] == ["source", "reason"]
    reasons = {Path(s).name: r for s, r in zip(rejects["source"], rejects["reason"], strict=True)}
    for name, outcome in expected.items():
        if outcome == "kept":
            assert f"{Path(name).stem}_c0" in kept and name not in reasons  # a loose video: <stem>_c<k>
        else:
            assert name in reasons and outcome in reasons[name], (name, reasons.get(name))
            assert f"{Path(name).stem}_c0" not in kept
    assert len(kept) + len(reasons) == len(expected)
    strict = run_cli("featurize", tmp_path / "in", "--out", tmp_path / "out2", "--strict", "--params", tmp_path / "none.yaml")
    assert strict.returncode == 1


def test_killed_run_resumes_without_duplicates(tmp_path: Path) -> None:
    write_demo_dataset(tmp_path / "clips", clips=10, seed=5)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"featurize": {"shard_size": 2}}))
    out = tmp_path / "faces"
    exe = Path(sys.executable).parent / "sales-ability"
    proc = subprocess.Popen([str(exe), "featurize", str(tmp_path / "clips"), "--out", str(out), "--params", str(params)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "part-00001.parquet").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(out.glob("part-*.parquet")))
    assert 1 <= done_before < 5, "the run must be killed midway"
    run = run_cli("featurize", tmp_path / "clips", "--out", out, "--params", params)
    assert run.returncode == 0, run.stderr
    assert "already done" in run.stderr
    ids = read_face_tensors(out, columns=["clip_id"]).column("clip_id").to_pylist()
    assert sorted(ids) == sorted(f"{p.stem}_c0" for p in (tmp_path / "clips").glob("*.mp4"))
    assert len(ids) == len(set(ids))
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("workers", [2])
def test_workers_give_the_same_tensors(tmp_path: Path, demo_dir: Path, featurized_demo: Path, workers: int) -> None:
    from sales_ability.config import FeaturizeParams
    from sales_ability.data.datasets import demo_manifest
    from sales_ability.data.featurize import featurize_manifest

    manifest = demo_manifest(demo_dir).head(4)
    summary = featurize_manifest(manifest, tmp_path / "w", FeaturizeParams(shard_size=5), workers=workers, progress=False)
    assert summary.kept == 4
    parallel = read_face_tensors(tmp_path / "w")
    serial = read_face_tensors(featurized_demo)
    index = {c: i for i, c in enumerate(serial.column("clip_id").to_pylist())}
    a = frames_array(parallel)
    b = frames_array(serial)
    for i, clip in enumerate(parallel.column("clip_id").to_pylist()):
        assert np.array_equal(a[i], b[index[clip]])


def test_resume_fingerprint_covers_the_featurize_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A DVC re-run after a code change must recompute, not resume from the persisted shards."""
    import sales_ability.data.video
    from sales_ability.config import FeaturizeParams
    from sales_ability.data.featurize import _fingerprint

    manifest = pd.DataFrame({"clip_id": ["a"], "source": ["a.mp4"]})
    before = _fingerprint(manifest, FeaturizeParams())
    assert _fingerprint(manifest, FeaturizeParams(workers=2)) == before  # how many workers does not matter
    changed = tmp_path / "video.py"
    changed.write_text(Path(sales_ability.data.video.__file__).read_text() + "\n# a change\n")
    monkeypatch.setattr(sales_ability.data.video, "__file__", str(changed))
    assert _fingerprint(manifest, FeaturizeParams()) != before


def test_frames_convert_as_swscale_does_and_each_reaches_convert_with_its_places(demo_dir: Path) -> None:
    """OpenCV's 4:2:0 conversion stays within chroma rounding of swscale's; ``convert`` sees every sampled frame
    once, with the (segment, position) places it fills, and its results make up the segments."""
    import av

    from sales_ability.data.video import iter_segments, to_bgr

    clip = sorted(demo_dir.glob("*.mp4"))[0]
    with av.open(str(clip)) as container:
        frames = [f for _, f in zip(range(8), container.decode(video=0))]
    ours = np.stack([to_bgr(f) for f in frames]).astype(int)
    theirs = np.stack([f.to_ndarray(format="bgr24") for f in frames])
    assert ours.shape == theirs.shape and np.abs(ours - theirs).mean() < 2.0

    bounds = [(0.0, 1.4), (1.4, 2.8), (2.8, 4.2)]
    seen = []
    _, plain = iter_segments(clip, bounds, 10)
    _, converted = iter_segments(clip, bounds, 10, lambda frame, places: seen.append(places) or places)
    for a, b in zip(plain, converted, strict=True):
        assert a.frame_index.tolist() == b.frame_index.tolist()
        assert b.frames == [[(b.index, position)] for position in range(10)]
    assert sorted(p for places in seen for p in places) == [(k, p) for k in range(3) for p in range(10)]


def test_an_h264_frame_no_other_refers_to_is_decoded_only_when_sampled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """x264's B-frames that no frame refers to are left undecoded unless sampled, and every segment still gets
    exactly the frames a full decode has at its places (also when a decoder leaves a frame without its pts);
    a browser's VP8 is decoded whole."""
    import av

    from sales_ability.data import video
    from sales_ability.data.video import h264_disposable, iter_segments, write_video

    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frames = [np.roll(base, 2 * i, axis=1) for i in range(90)]  # motion: x264 writes B-frames
    clips = {codec: write_video(tmp_path / f"clip.{ext}", frames, 30, codec) for codec, ext in (("libx264", "mp4"), ("libvpx", "webm"))}
    with av.open(str(clips["libx264"])) as container:
        stream = container.streams.video[0]
        disposable = h264_disposable(stream)
        skipped = [disposable(p) for p in container.demux(stream) if p.size]
    assert 0 < sum(skipped) < len(skipped)  # some frames need not be decoded
    with av.open(str(clips["libvpx"])) as container:
        assert h264_disposable(container.streams.video[0]) is None
    for clip in clips.values():
        with av.open(str(clip)) as container:
            whole = [f.to_ndarray() for f in container.decode(video=0)]
        bounds = [(0.0, 1.0), (1.0, 2.0), (2.0, None)]
        _, segments = iter_segments(clip, bounds, 7, lambda frame, places: frame.to_ndarray())
        for segment in segments:
            assert segment.error is None
            assert all(np.array_equal(got, whole[i]) for got, i in zip(segment.frames, segment.frame_index.tolist(), strict=True))

    def unplaced_after_two(*args):  # a decoder that leaves a frame without its pts, after two sampled frames
        frames = needed(*args)
        yield next(frames)
        yield next(frames)
        raise video._Unplaced

    needed = video._frames_needed
    monkeypatch.setattr(video, "_frames_needed", unplaced_after_two)
    with av.open(str(clips["libx264"])) as container:
        whole = [f.to_ndarray() for f in container.decode(video=0)]
    _, segments = iter_segments(clips["libx264"], [(0.0, None)], 20, lambda frame, places: frame.to_ndarray())
    (segment,) = list(segments)  # the rest decoded again, counting frames: the same frames
    assert segment.error is None and len(segment.frames) == 20
    assert all(np.array_equal(got, whole[i]) for got, i in zip(segment.frames, segment.frame_index.tolist(), strict=True))


def test_a_crop_converts_only_its_square_and_gets_the_whole_frames_pixels() -> None:
    """A 4:2:0 frame's crop converts only its own rectangle, to the very pixels a crop of the whole converted
    frame has: inside the frame, at odd coordinates, over each edge (replicated) and wholly outside it; its
    gray is the luma."""
    import av

    from sales_ability.data.faces import square_crop
    from sales_ability.data.video import FramePixels

    rng = np.random.default_rng(3)
    frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), format="bgr24")
    frame = frame.reformat(format="yuv420p")
    pixels = FramePixels.decoded(frame)
    assert pixels._i420 is not None  # kept as decoded
    whole = FramePixels.of_bgr(FramePixels.decoded(frame).bgr())
    boxes = [(30, 20, 40, 40), (31, 21, 37, 41), (-15, -9, 50, 50), (95, 60, 40, 40), (-80, 10, 20, 20), (200, 150, 9, 9)]
    for box in boxes:
        assert np.array_equal(square_crop(pixels, np.array(box), 0.2, 32), square_crop(whole, np.array(box), 0.2, 32)), box
    assert pixels._bgr is None  # nothing converted the whole frame
    assert np.array_equal(pixels.gray(), frame.to_ndarray()[:90])


def test_the_threaded_featurize_crops_what_the_plain_tracker_crops(demo_dir: Path) -> None:
    """Frames prepared and segments tracked in a thread while decoding goes on give, segment by segment, the
    crops of the plain path: read the frames, locate_faces, crop."""
    from sales_ability.config import FeaturizeParams
    from sales_ability.data.faces import fill_missing_boxes, locate_faces, make_detector, square_crop
    from sales_ability.data.featurize import MAX_SEGMENTS_BEHIND, featurize_recording
    from sales_ability.data.video import read_sampled_frames

    clip = sorted(demo_dir.glob("*.mp4"))[0]
    bounds = [(i * 0.7, (i + 1) * 0.7) for i in range(MAX_SEGMENTS_BEHIND + 3)]  # more than the thread may lag
    params = FeaturizeParams(n_frames=10, detect_every=3)
    detector = make_detector(params.detector)
    rows = [{"clip_id": f"s{i}", "source": str(clip), "start_s": a, "end_s": b} for i, (a, b) in enumerate(bounds)]
    results = featurize_recording(rows, params, detector)
    assert [r[0]["clip_id"] for r in results] == [r["clip_id"] for r in rows]
    for (a, b), (_, features, reason) in zip(bounds, results, strict=True):
        assert reason is None
        _, frames, _ = read_sampled_frames(clip, params.n_frames, a, b)
        track = locate_faces(frames, detector, params.detect_every, params.detect_max_side, params.track_min_score)
        boxes = fill_missing_boxes(track.boxes, frames[0].shape[:2])
        expected = np.stack([square_crop(f, box, params.margin, params.crop_size) for f, box in zip(frames, boxes)])
        assert np.array_equal(features.frames, expected)
