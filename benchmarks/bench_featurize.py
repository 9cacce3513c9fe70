"""Featurize speed on a generated 15 s 1280x720 30 fps H.264 clip with a moving face.

Prints, measured in one run: our per-clip time, the decode-all-frames floor, the naive baseline
(decode + MTCNN at full resolution on all 60 sampled frames), and 1 vs 2 workers on a small batch.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def make_clip(path: Path, seconds: int = 15, fps: int = 30, width: int = 1280, height: int = 720, seed: int = 0) -> Path:
    import cv2
    from skimage import data

    from sales_ability.data.demo_data import render_clip
    from sales_ability.data.video import write_video
    from sales_ability.traits import TRAITS

    rng = np.random.default_rng(seed)
    face = cv2.resize(data.astronaut()[20:200, 140:310], (260, 260), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(60, 190, height, dtype=np.float32)[:, None, None]
    background = np.broadcast_to(ramp * np.array([0.8, 0.9, 1.0], np.float32), (height, width, 3)).copy()
    frames = render_clip(face, background, dict.fromkeys(TRAITS, 0.5), seconds * fps, fps, rng)
    return write_video(path, frames, fps)


def _best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from sales_ability.config import FeaturizeParams
    from sales_ability.data.datasets import manifest_from_inputs
    from sales_ability.data.faces import MTCNNDetector
    from sales_ability.data.featurize import featurize_clip, featurize_manifest
    from sales_ability.data.video import decode_all_frames, read_sampled_frames

    console = Console()
    params = FeaturizeParams()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = make_clip(tmp / "clip.mp4")
        detector = MTCNNDetector()
        detector.detect_batch([np.zeros((64, 64, 3), np.uint8)])  # load the weights outside the timings
        row = {"clip_id": "clip", "source": str(clip)}

        floor = _best_of(lambda: decode_all_frames(clip))
        ours = _best_of(lambda: featurize_clip(row, params, detector))

        def naive() -> None:
            import cv2

            decode_all_frames(clip)
            _, frames, _ = read_sampled_frames(clip, params.n_frames)
            detector.detect_batch([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames][:1])
            for f in frames:
                detector.detect_batch([cv2.cvtColor(f, cv2.COLOR_BGR2RGB)])

        naive_s = _best_of(naive, repeat=1)

        batch = tmp / "batch"
        batch.mkdir()
        for i in range(16):  # copies of one clip: the same work per clip, only names differ
            (batch / f"c{i:02d}.mp4").write_bytes(clip.read_bytes())
        manifest = manifest_from_inputs([batch])
        one = featurize_manifest(manifest, tmp / "w1", params, workers=1, progress=False, use_pool=True)
        two = featurize_manifest(manifest, tmp / "w2", params, workers=2, progress=False, use_pool=True)
        rate1, rate2 = one.steady_clips_per_s(1), two.steady_clips_per_s(2)

    table = Table(title="featurize: one 15 s 1280x720 30 fps H.264 clip (best of 3, detector warm)")
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("decode all frames (floor)", f"{floor:.3f}", "1.00 x floor")
    table.add_row("featurize_clip (ours, 1 core)", f"{ours:.3f}", f"{ours / floor:.2f} x floor")
    table.add_row("naive: decode + MTCNN full-res x 60", f"{naive_s:.3f}", f"{naive_s / ours:.1f} x slower than ours")
    table.add_row("16 clips, 1 single-threaded worker: clips/s", f"{rate1:.2f}", f"total {one.seconds:.1f} s")
    table.add_row("16 clips, 2 single-threaded workers: clips/s", f"{rate2:.2f}",
                  f"{rate2 / rate1:.2f} x speed-up (total {two.seconds:.1f} s)")
    console.print(table)
    console.print("targets: ours <= 1.5 x floor; naive >= 10 x ours; 2 workers close to 2 x on 2 cores "
                  "(clips/s after each worker's first clip, which carries its TensorFlow start-up)")


def answer_main() -> None:
    """A 60 s 640x480 30 fps WebM answer (4 segments of 15 s): featurize per answer against decoding it once."""
    from rich.console import Console
    from rich.table import Table

    from sales_ability.config import FeaturizeParams
    from sales_ability.data.datasets import manifest_from_inputs
    from sales_ability.data.faces import MTCNNDetector
    from sales_ability.data.featurize import featurize_recording
    from sales_ability.data.video import decode_all_frames, read_sampled_frames, write_video

    params = FeaturizeParams()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = make_clip(tmp / "a.mp4", seconds=60, width=640, height=480, seed=1)
        answer = tmp / "applicant" / "answer_1.webm"  # VP8 WebM, as a browser uploads (after the remux)
        import av

        with av.open(str(clip)) as source:
            write_video(answer, (f.to_ndarray(format="rgb24") for f in source.decode(video=0)), 30, codec="libvpx")
        rows = manifest_from_inputs([answer.parent], params).to_dict("records")
        detector = MTCNNDetector()
        detector.detect_batch([np.zeros((64, 64, 3), np.uint8)])
        from sales_ability.data.video import iter_segments

        floor = _best_of(lambda: decode_all_frames(answer))
        bounds = [(r["start_s"], r["end_s"]) for r in rows]
        one_pass = _best_of(lambda: list(iter_segments(answer, bounds, params.n_frames)[1]))
        ours = _best_of(lambda: featurize_recording(rows, params, detector))
        per_segment = _best_of(lambda: [read_sampled_frames(answer, params.n_frames, r["start_s"], r["end_s"]) for r in rows],
                               repeat=1)
    table = Table(title=f"featurize per answer: one 60 s 640x480 30 fps WebM answer, {len(rows)} segments (best of 3)")
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("decode the answer once (floor)", f"{floor:.3f}", "1.00 x floor")
    table.add_row(f"read the sampled frames of all {len(rows)} segments, one pass (ours)", f"{one_pass:.3f}",
                  f"{one_pass / floor:.2f} x floor")
    table.add_row("read them with one decode from the start per segment (before)", f"{per_segment:.3f}",
                  f"{per_segment / floor:.2f} x floor")
    table.add_row(f"featurize all {len(rows)} segments: read + MTCNN + tracking + crops", f"{ours:.3f}",
                  f"{ours / floor:.2f} x floor")
    Console().print(table)
    Console().print("target: featurize per answer <= 1.3 x decoding it once (the read meets it; face detection, "
                    "6 MTCNN calls per segment, does not at 640x480 VP8, whose decoding is cheap)")
