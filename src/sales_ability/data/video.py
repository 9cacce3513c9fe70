"""Video I/O: probe a file, sample frames evenly without seeking, write H.264 or VP8 clips.

H.264 keyframes are far apart, so seeking 60 times costs seconds per clip: we ``grab()`` every frame
(demux + decode, no colour conversion) and ``retrieve()`` only the sampled ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sales_ability.errors import VideoError

# A container whose decoded frame count falls this far below the count in its header is truncated.
TRUNCATED_BELOW = 0.9


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (``n_frames`` may be an estimate: webm)."""

    path: str
    fps: float
    width: int
    height: int
    n_frames: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else float("nan")


def _open(path: str | Path):
    import cv2

    path = Path(path)
    if not path.is_file():
        raise VideoError("file not found")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError("not a readable video (the container could not be opened)")
    return cap


def probe_video(path: str | Path) -> VideoInfo:
    """Read the container's header.

    Raises:
        VideoError: missing, empty or unreadable file.
    """
    import cv2

    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        info = VideoInfo(
            path=str(path),
            fps=fps if math.isfinite(fps) else 0.0,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            n_frames=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))),
        )
    finally:
        cap.release()
    if info.width <= 0 or info.height <= 0:
        raise VideoError("not a video (no picture stream)")
    return info


def sample_indices(n_frames: int, n_samples: int, start: int = 0) -> np.ndarray:
    """``n_samples`` frame numbers spread evenly over ``[start, start + n_frames)``, centred in their bins."""
    if n_frames < n_samples:
        raise VideoError(f"too short: {n_frames} frames, {n_samples} needed")
    edges = np.linspace(0, n_frames, n_samples + 1)
    return (start + np.floor((edges[:-1] + edges[1:]) / 2)).astype(np.int64)


def count_frames(path: str | Path) -> int:
    """Count decodable frames by grabbing them all (for containers whose header count is an estimate)."""
    cap = _open(path)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def _grab_sampled(path: str | Path, indices: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Grab frames in order, retrieving (BGR) only those in ``indices``; returns frames and frames grabbed."""
    cap = _open(path)
    wanted = iter(np.unique(indices).tolist())
    target = next(wanted, None)
    frames: dict[int, np.ndarray] = {}
    n = 0
    last = int(indices.max()) if len(indices) else -1
    try:
        while target is not None and cap.grab():
            if n == target:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    raise VideoError(f"frame {n} could not be decoded (corrupt stream)")
                frames[n] = frame
                target = next(wanted, None)
            n += 1
            if n > last:
                break
    finally:
        cap.release()
    return [frames[i] for i in indices if i in frames], n


def read_sampled_frames(
    path: str | Path,
    n_samples: int,
    start_s: float | None = None,
    end_s: float | None = None,
) -> tuple[np.ndarray, list[np.ndarray], VideoInfo]:
    """Decode ``n_samples`` frames spread evenly over a clip (or its ``[start_s, end_s)`` segment).

    Returns:
        The source frame numbers, the BGR frames, and the probed info (``n_frames`` as decoded).

    Raises:
        VideoError: unreadable, too short, or truncated (far fewer frames decode than the header says).
    """
    info = probe_video(path)
    header_count = info.n_frames
    fps = info.fps if info.fps > 0 else 30.0
    first = int(round(start_s * fps)) if start_s is not None and math.isfinite(start_s) else 0
    stop = int(round(end_s * fps)) if end_s is not None and math.isfinite(end_s) else header_count
    if header_count <= 0:  # some webm headers carry no count: count by decoding once
        header_count = count_frames(path)
        stop = min(stop, header_count) if stop > 0 else header_count
        info = VideoInfo(info.path, info.fps, info.width, info.height, header_count)
    stop = min(stop, header_count)
    indices = sample_indices(stop - first, n_samples, first)
    frames, grabbed = _grab_sampled(path, indices)
    if len(frames) < len(indices):
        # The header over-counted: find the real length, check for truncation, sample again.
        actual = count_frames(path)
        if actual == 0:
            raise VideoError("no frame could be decoded")
        if actual < TRUNCATED_BELOW * header_count:
            raise VideoError(f"truncated: {actual} of {header_count} frames decode")
        stop = min(stop, actual)
        indices = sample_indices(stop - first, n_samples, first)
        frames, grabbed = _grab_sampled(path, indices)
        if len(frames) < len(indices):
            raise VideoError(f"only {len(frames)} of {len(indices)} sampled frames decode")
        info = VideoInfo(info.path, info.fps, info.width, info.height, actual)
    return indices, frames, info


def decode_all_frames(path: str | Path) -> int:
    """Decode every frame (the floor any featurizer pays); returns the number decoded."""
    cap = _open(path)
    n = 0
    try:
        while True:
            ok, _ = cap.read()
            if not ok:
                break
            n += 1
    finally:
        cap.release()
    return n


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int, codec: str = "libx264") -> Path:
    """Encode RGB uint8 frames with PyAV (FFmpeg in the wheel): ``libx264`` mp4 or ``libvpx`` webm.

    Single-threaded encoding so that the same frames give the same bytes.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part{path.suffix}")
    # bitexact: no random segment id or muxing date in the container (webm otherwise differs in 16 bytes)
    with av.open(str(tmp), mode="w", options={"fflags": "+bitexact"}) as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.thread_count = 1
                if codec == "libx264":
                    stream.options = {"crf": "23", "preset": "veryfast", "threads": "1"}
                else:
                    stream.options = {"threads": "1", "deadline": "realtime", "cpu-used": "8"}
                    stream.bit_rate = 1_000_000
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path
