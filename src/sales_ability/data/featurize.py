"""Featurize: raw clips -> 60 RGB face crops each, written as sharded Parquet with labels and split.

One row per clip (see README "Face tensor schema"). Every input ends in exactly one of two places: a
Parquet shard, or ``rejects.csv`` with the reason. Shards are written atomically and the run resumes:
clips already in a shard or in the rejects are skipped when a killed run is started again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from sales_ability.config import FeaturizeParams
from sales_ability.data import face_tensors, faces, video
from sales_ability.data.face_tensors import (
    REJECT_COLUMNS,
    REJECTS_FILE,
    ClipFeatures,
    FaceTensorWriter,
    _isnan,
    shard_paths,
)
from sales_ability.data.applicant_folder import answer_number
from sales_ability.data.faces import (
    PreparedFrame,
    fill_missing_boxes,
    follow_face,
    make_detector,
    prepare_frame,
    square_crop,
)
from sales_ability.data.segments import shortest_segment_seconds
from sales_ability.data.video import FramePixels, iter_segments, set_decode_threads
from sales_ability.errors import VideoError
from sales_ability.io_utils import write_csv_atomic, write_json_atomic

STATE_FILE = "_featurize_state.json"
# Segments decoded but not yet tracked and cropped, at most (each holds its 60 frames).
MAX_SEGMENTS_BEHIND = 2


def _clip_features(clip: dict, segment, info, params: FeaturizeParams, detector) -> ClipFeatures:
    """Track and crop one segment's prepared frames (``segment.frames``: futures of ``prepare_frame``).

    Raises:
        VideoError: a frame that would not convert, or no face in enough of the frames.
    """
    import av

    try:
        prepared = [future.result() for future in segment.frames]
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoError(f"unreadable frame: {err}") from None
    track = follow_face(prepared, detector, params.detect_max_side, params.track_min_score)
    share = float(track.found.mean())
    if share < params.min_face_fraction:
        raise VideoError(
            f"no face: found in {int(track.found.sum())} of {len(prepared)} sampled frames "
            f"(need {params.min_face_fraction:.0%})"
        )
    crop_boxes = fill_missing_boxes(track.boxes, prepared[0].pixels.shape)
    crops = np.stack([square_crop(p.pixels, b, params.margin, params.crop_size)
                      for p, b in zip(prepared, crop_boxes, strict=True)])
    return ClipFeatures(
        clip=clip, frames=crops, frame_index=segment.frame_index, face_found=track.found, boxes=track.boxes,
        fps=info.fps, width=info.width, height=info.height, n_frames=info.n_frames, detector=detector.name,
    )


def featurize_recording(clips: list[dict], params: FeaturizeParams, detector) -> list[tuple[dict, ClipFeatures | None, str | None]]:
    """Every segment (manifest row) of one recording, from one decode: (clip, features or None, reject reason).

    Each sampled frame is converted, shrunk and (on a keyframe) detected in a thread as soon as it is decoded,
    and the segment is tracked and cropped in the same thread after its last frame, while the decoder goes on
    (decoding, OpenCV and the detector all let go of Python's lock)."""

    def bound(v):
        return None if _isnan(v) else float(v)

    out: list[tuple[dict, ClipFeatures | None, str | None]] = [None] * len(clips)  # in the clips' order
    short = {i: reason for i, reason in ((i, too_short(c, params)) for i, c in enumerate(clips)) if reason}
    for i, reason in short.items():
        out[i] = (clips[i], None, reason)
    kept = [i for i in range(len(clips)) if i not in short]
    if not kept:
        return out

    def prepare(frame, keyframe: bool) -> PreparedFrame:
        return prepare_frame(FramePixels.decoded(frame), detector, params.detect_max_side, keyframe)

    bounds = [(bound(clips[i].get("start_s")), bound(clips[i].get("end_s"))) for i in kept]

    with ThreadPoolExecutor(1, thread_name_prefix="faces") as pool:
        def convert(frame, places: list[tuple[int, int]]) -> Future:
            return pool.submit(prepare, frame, any(p % params.detect_every == 0 for _, p in places))

        try:
            info, segments = iter_segments(clips[0]["source"], bounds, params.n_frames, convert)
        except VideoError as err:
            return [(clip, None, str(err)) if i in kept else out[i] for i, clip in enumerate(clips)]
        tracked: deque[tuple[int, Future]] = deque()

        def collect() -> None:
            position, future = tracked.popleft()
            try:
                out[position] = (clips[position], future.result(), None)
            except VideoError as err:
                out[position] = (clips[position], None, str(err))

        for segment in segments:  # in time order, each as soon as its last frame is decoded
            position = kept[segment.index]
            if segment.error is not None:
                out[position] = (clips[position], None, str(segment.error))
                continue
            # tracking and cropping go to the same thread, after this segment's frames: the decoder goes on
            tracked.append((position, pool.submit(_clip_features, clips[position], segment, info, params, detector)))
            while len(tracked) > MAX_SEGMENTS_BEHIND:  # bounds the frames held when the thread falls behind
                collect()
        while tracked:
            collect()
    return out


def too_short(clip: dict, params: FeaturizeParams) -> str | None:
    """The reason an answer's segment is refused for being shorter than ``shortest_segment_seconds`` (None when
    it is long enough, or is a loose, already cut clip such as First Impressions' 15 s clips). Cutting never
    makes one; only an answer that short is, and its 60 frames would be seen at another density than
    training's."""
    start, end = clip.get("start_s"), clip.get("end_s")
    if answer_number(Path(str(clip.get("source", "")))) is None or _isnan(start) or _isnan(end):
        return None
    floor = shortest_segment_seconds(params)
    if float(end) - float(start) >= floor - 1e-3:
        return None
    return (f"answer too short: {float(end) - float(start):.1f} s, under the {floor:.2f} s one segment needs "
            f"(0.75 x featurize.clip_seconds {params.clip_seconds:g} s); 60 frames of it would be seen at another "
            "frame density than the model learned from. Record a longer answer.")


def featurize_clip(clip: dict, params: FeaturizeParams, detector) -> ClipFeatures:
    """Sample, detect, track and crop one clip (a manifest row).

    Raises:
        VideoError: the reject reason (unreadable, truncated, too short, no face).
    """
    ((_, features, reason),) = featurize_recording([clip], params, detector)
    if features is None:
        raise VideoError(reason)
    return features


@dataclass
class FeaturizeSummary:
    """What a featurize run did."""

    kept: int
    rejected: int
    skipped: int
    seconds: float
    rejects: list[dict] = field(default_factory=list)
    completed_at: list[float] = field(default_factory=list)  # seconds since start, per clip processed

    def steady_clips_per_s(self, warmup: int) -> float:
        """Throughput after the first ``warmup`` clips (which carry each worker's start-up)."""
        t = self.completed_at
        if len(t) <= warmup + 1:
            return float("nan")
        return (len(t) - 1 - warmup) / (t[-1] - t[warmup])

    def line(self) -> str:
        resumed = f", {self.skipped} already done" if self.skipped else ""
        return f"featurize: kept {self.kept}, rejected {self.rejected}{resumed} in {self.seconds:.1f} s"


# --- workers: one detector per process, created once ---------------------------------------------

_WORKER: dict = {}


def _init_worker(params_json: str, single_thread: bool) -> None:
    if single_thread:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")  # FFmpeg decodes on all cores otherwise
        import cv2

        cv2.setNumThreads(1)
        set_decode_threads(1)

    params = FeaturizeParams.model_validate_json(params_json)
    _WORKER["params"] = params
    _WORKER["detector"] = make_detector(params.detector)


def _work(clips: list[dict]) -> list[tuple[dict, ClipFeatures | None, str | None]]:
    try:
        return featurize_recording(clips, _WORKER["params"], _WORKER["detector"])
    except Exception as err:  # noqa: BLE001 - one bad file must never stop the batch
        return [(clip, None, f"unexpected error: {type(err).__name__}: {err}") for clip in clips]


def _by_recording(clips: list[dict]) -> list[list[dict]]:
    """The clips grouped by source file, in first-seen order (one decode serves a recording's segments)."""
    groups: dict[str, list[dict]] = {}
    for clip in clips:
        groups.setdefault(str(clip["source"]), []).append(clip)
    return list(groups.values())


def _results(
    clips: list[dict], params: FeaturizeParams, workers: int, use_pool: bool = False
) -> Iterator[tuple[dict, ClipFeatures | None, str | None]]:
    tasks = _by_recording(clips)
    if workers <= 1 and not use_pool:
        _init_worker(params.model_dump_json(), single_thread=False)
        for task in tasks:
            yield from _work(task)
        return
    import multiprocessing as mp

    # Spawned workers (TensorFlow does not survive fork); a window of 2 tasks per worker bounds memory.
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"),
        initializer=_init_worker, initargs=(params.model_dump_json(), True),
    ) as pool:
        window: deque[Future] = deque()
        for task in tasks:
            window.append(pool.submit(_work, task))
            if len(window) >= 2 * workers:
                yield from window.popleft().result()
        while window:
            yield from window.popleft().result()


def _fingerprint(manifest: pd.DataFrame, params: FeaturizeParams) -> str:
    """What a resumed run must share with the interrupted one: clips, params and the code that makes tensors
    (without the code, a DVC re-run after a change to it would keep the old shards of a persisted output)."""
    digest = hashlib.sha256(json.dumps(params.tensor_settings(), sort_keys=True).encode())
    digest.update(manifest.to_csv(index=False).encode())
    for module in (sys.modules[__name__], face_tensors, faces, video):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _done_clip_ids(out_dir: Path) -> set[str]:
    done: set[str] = set()
    for shard in shard_paths(out_dir):
        done.update(pq.read_table(shard, columns=["clip_id"]).column("clip_id").to_pylist())
    return done


def _read_rejects(out_dir: Path) -> list[dict]:
    path = out_dir / REJECTS_FILE
    if not path.is_file():
        return []
    return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")


def _write_rejects(out_dir: Path, rejects: list[dict]) -> None:
    write_csv_atomic(out_dir / REJECTS_FILE, pd.DataFrame(rejects, columns=list(REJECT_COLUMNS)))


def featurize_manifest(
    manifest: pd.DataFrame,
    out_dir: str | Path,
    params: FeaturizeParams,
    workers: int | None = None,
    progress: bool = True,
    use_pool: bool = False,
) -> FeaturizeSummary:
    """Featurize every clip of ``manifest`` into ``out_dir`` (shards + ``rejects.csv``), resuming if possible.

    A folder holding a run of a different manifest or different parameters is cleared first.
    ``use_pool`` runs even a single worker in a separate single-threaded process (for benchmarks).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(manifest, params)
    state_path = out_dir / STATE_FILE
    previous = json.loads(state_path.read_text()).get("fingerprint") if state_path.is_file() else None
    if previous != fingerprint:
        for stale in [*out_dir.glob("part-*.parquet"), out_dir / REJECTS_FILE]:
            stale.unlink(missing_ok=True)
        write_json_atomic(state_path, {"fingerprint": fingerprint})
    for leftover in out_dir.glob(".*.tmp"):
        leftover.unlink()

    wanted = set(manifest["clip_id"])
    done = _done_clip_ids(out_dir) & wanted
    rejects = [r for r in _read_rejects(out_dir) if r["clip_id"] in wanted]
    rejected_ids = {r["clip_id"] for r in rejects}
    clips = [
        {k: (None if _isnan(v) else v) for k, v in row.items()}
        for row in manifest.to_dict("records")
        if row["clip_id"] not in done and row["clip_id"] not in rejected_ids
    ]
    skipped = len(manifest) - len(clips)
    writer = FaceTensorWriter(out_dir, params.shard_size, params.n_frames, params.crop_size)
    n_workers = workers or params.workers

    kept = 0
    completed_at: list[float] = []
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("featurize"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), disable=not progress,
    ) as bar:
        task = bar.add_task("clips", total=len(clips))
        for clip, features, reason in _results(clips, params, n_workers, use_pool):
            completed_at.append(time.perf_counter() - started)
            if features is not None:
                writer.add(features)
                kept += 1
            else:
                rejects.append({"source": str(clip["source"]), "reason": reason, "clip_id": str(clip["clip_id"])})
                _write_rejects(out_dir, rejects)
            bar.advance(task)
        writer.flush()
    _write_rejects(out_dir, rejects)
    return FeaturizeSummary(
        kept=kept + len(done), rejected=len(rejects), skipped=skipped,
        seconds=time.perf_counter() - started, rejects=rejects, completed_at=completed_at,
    )
