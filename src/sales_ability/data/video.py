"""Video I/O: probe a recording, decode it once for all its segments, write H.264 or VP8 clips.

Frame times come from one demux pass (no decoding): Chrome's MediaRecorder writes WebM with no Duration and
no Cues, so its header's frame count reads 0 and it cannot be seeked; the packets still carry every
frame's timestamp. A segment ``[start_s, end_s)`` is the frames whose time falls inside it, and its
``n_samples`` frames are spread evenly over them. One decode pass then serves every segment of a recording
in time order, converting only the sampled frames to pixels (H.264 seeking costs seconds per clip, and a
WebM without Cues cannot seek at all); at most one segment's frames are held at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sales_ability.errors import VideoError

# A recording whose decodable frames fall this far below the frames its packets (or header) announce is truncated.
TRUNCATED_BELOW = 0.9
# Decoder threads (0: FFmpeg's choice). Featurize's single-threaded workers set 1 (``set_decode_threads``).
_DECODE_THREADS = {"n": 0}


def set_decode_threads(n: int) -> None:
    """Decoder threads for this process (0: FFmpeg's choice)."""
    _DECODE_THREADS["n"] = int(n)


@dataclass(frozen=True)
class VideoInfo:
    """What a recording holds, from its packets (not only its header)."""

    path: str
    fps: float
    width: int
    height: int
    n_frames: int  # video packets, counted by demuxing (every frame, also when the header says 0)
    duration_s: float  # from the first frame's time to the end of the last frame
    header_frames: int = 0  # the count the container header declares (0: none, as Chrome's WebM)


def _open(path: str | Path):
    """An open PyAV container and its video stream (VideoError for a missing, empty or unreadable file)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError("file not found")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError):
        raise VideoError("not a readable video (the container could not be opened)") from None
    if not container.streams.video or container.streams.video[0].width <= 0:
        container.close()
        raise VideoError("not a video (no picture stream)")
    return container, container.streams.video[0]


def _frame_stamps(container, stream) -> tuple[np.ndarray, bool]:
    """Every video packet's presentation stamp (the stream's time base) in display order, and whether they
    are the packets' own distinct pts (so that a decoded frame's pts names its place)."""
    import av

    stamps, own = [], True
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's flush packet
                continue
            own = own and packet.pts is not None
            stamp = packet.pts if packet.pts is not None else packet.dts
            stamps.append(len(stamps) if stamp is None else stamp)
    except (av.FFmpegError, OSError):
        pass  # a damaged tail: the packets before it still count (decoding decides truncation)
    stamps = np.sort(np.asarray(stamps, dtype=np.int64))
    return stamps, own and bool(np.all(np.diff(stamps) > 0))  # sorted: distinct when strictly rising


def _probe(container, stream, path: str | Path) -> tuple[VideoInfo, np.ndarray, np.ndarray | None]:
    """The recording's info, its frames' times (s, from the first frame, display order) and, where they name
    each frame's place, the packets' pts (else None)."""
    stamps, own = _frame_stamps(container, stream)
    if len(stamps) == 0:
        raise VideoError("no frame could be decoded (the recording holds no video packets)")
    times = stamps.astype(np.float64) * float(stream.time_base or 1)
    times = times - times[0]
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    step = float(np.median(np.diff(times))) if len(times) > 1 else (1 / rate if rate > 0 else 0.0)
    duration = float(times[-1] + step)
    fps = rate if rate > 0 and math.isfinite(rate) else (len(times) / duration if duration > 0 else 0.0)
    info = VideoInfo(str(path), fps, int(stream.width), int(stream.height), len(times), duration,
                     max(0, int(stream.frames or 0)))
    return info, times, stamps if own else None


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, duration, rate and size of a recording, by demuxing it (no decoding).

    Raises:
        VideoError: missing, empty, unreadable, no picture stream, or no video packets.
    """
    container, stream = _open(path)
    try:
        return _probe(container, stream, path)[0]
    finally:
        container.close()


def sample_indices(n_frames: int, n_samples: int, start: int = 0) -> np.ndarray:
    """``n_samples`` frame numbers spread evenly over ``[start, start + n_frames)``, centred in their bins."""
    if n_frames < n_samples:
        raise VideoError(f"too short: {n_frames} frames, {n_samples} needed")
    edges = np.linspace(0, n_frames, n_samples + 1)
    return (start + np.floor((edges[:-1] + edges[1:]) / 2)).astype(np.int64)


def segment_indices(times: np.ndarray, start_s: float | None, end_s: float | None, n_samples: int) -> np.ndarray:
    """The sampled frame numbers of segment ``[start_s, end_s)`` (None or NaN: the recording's start or end)."""
    eps = 1e-6
    lo = 0 if start_s is None or not math.isfinite(start_s) else int(np.searchsorted(times, start_s - eps))
    hi = len(times) if end_s is None or not math.isfinite(end_s) else int(np.searchsorted(times, end_s - eps))
    return sample_indices(max(0, hi - lo), n_samples, lo)


def count_frames(path: str | Path) -> int:
    """Count decodable frames by decoding them all."""
    return decode_all_frames(path)


@dataclass
class SegmentFrames:
    """One segment's sampled frames (BGR, or what ``convert`` made of them), or why it could not be read."""

    index: int  # position in the segments asked for
    frame_index: np.ndarray
    frames: list
    error: VideoError | None = None


# What becomes of each sampled frame: called with the decoded frame and its (segment, position) places.
FrameConverter = Callable[[object, list[tuple[int, int]]], object]


def _bgr_of(frame, places: list[tuple[int, int]]) -> np.ndarray:
    return to_bgr(frame)


# AVColorSpace values OpenCV's 4:2:0 conversion matches (BT.601 limited range): unspecified, BT470BG, SMPTE 170M.
_BT601 = frozenset({2, 5, 6})


class FramePixels:
    """One decoded frame's pixels, converted only where they are used.

    A BT.601 4:2:0 frame (what browsers, webcams and the demo write) keeps its planes as decoded: its luma is the
    tracker's gray, and a face crop converts only its own rectangle. OpenCV's 4:2:0 conversion gives each 2x2
    block its chroma, so an even-aligned rectangle converts to exactly the pixels of the whole frame's
    conversion (0.4 ms against swscale's 2.2 ms for a whole 640x480 frame, which most frames never need).
    Anything else (BT.709, full range, another pixel format, odd sides) is converted to BGR once by swscale,
    which reads the frame's colour tags; the two ways differ only in how chroma is upsampled (mean 0.85 of 255).
    """

    __slots__ = ("_i420", "_bgr")

    def __init__(self, i420: np.ndarray | None = None, bgr: np.ndarray | None = None) -> None:
        self._i420, self._bgr = i420, bgr  # I420: the Y plane's rows, then U's and V's (height * 3/2 rows)

    @classmethod
    def decoded(cls, frame) -> FramePixels:
        """A PyAV video frame's pixels."""
        if (frame.format.name == "yuv420p" and frame.colorspace in _BT601 and frame.color_range != 2
                and frame.width % 2 == 0 and frame.height % 2 == 0):
            return cls(i420=frame.to_ndarray())
        return cls.of_bgr(frame.to_ndarray(format="bgr24"))

    @classmethod
    def of_bgr(cls, bgr: np.ndarray) -> FramePixels:
        """Pixels already in BGR (a frame read elsewhere, a test's drawing)."""
        return cls(bgr=bgr)

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width."""
        if self._bgr is not None:
            return self._bgr.shape[:2]
        return self._i420.shape[0] * 2 // 3, self._i420.shape[1]

    def bgr(self) -> np.ndarray:
        """The whole frame in BGR (converted once, then kept)."""
        if self._bgr is None:
            import cv2

            self._bgr = cv2.cvtColor(self._i420, cv2.COLOR_YUV2BGR_I420)
        return self._bgr

    def gray(self) -> np.ndarray:
        """Luma: a 4:2:0 frame's own Y plane (studio range: the tracker's normalised correlation ignores gain and
        offset), else the BGR frame's gray."""
        if self._i420 is not None:
            return self._i420[: self.shape[0]]
        import cv2

        return cv2.cvtColor(self._bgr, cv2.COLOR_BGR2GRAY)

    def bgr_region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """BGR of rows ``y0:y1`` and columns ``x0:x1`` (inside the frame), the same pixels as ``bgr()[y0:y1, x0:x1]``."""
        if self._bgr is not None:
            return self._bgr[y0:y1, x0:x1]
        import cv2

        h, w = self.shape
        ax0, ay0, ax1, ay1 = x0 & ~1, y0 & ~1, min(w, x1 + (x1 & 1)), min(h, y1 + (y1 & 1))  # even: whole 2x2 blocks
        chroma = self._i420.reshape(-1)[h * w :]  # U then V, each (h/2, w/2), back to back
        u, v = chroma[: h * w // 4].reshape(h // 2, w // 2), chroma[h * w // 4 :].reshape(h // 2, w // 2)
        rows, cols = slice(ay0 // 2, ay1 // 2), slice(ax0 // 2, ax1 // 2)
        planes = np.concatenate([self._i420[ay0:ay1, ax0:ax1].ravel(), u[rows, cols].ravel(), v[rows, cols].ravel()])
        bgr = cv2.cvtColor(planes.reshape(-1, ax1 - ax0), cv2.COLOR_YUV2BGR_I420)
        return bgr[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0]


def to_bgr(frame) -> np.ndarray:
    """A decoded frame's BGR pixels (``FramePixels``' conversion, of the whole frame)."""
    return FramePixels.decoded(frame).bgr()


def h264_disposable(stream) -> Callable[[object], bool] | None:
    """For an H.264 stream in length-prefixed (MP4) form: a test of whether a packet is a frame no other frame
    refers to (every slice's nal_ref_idc is 0), which need not be decoded unless it is sampled. None for any
    other stream (VP8 and VP9, what browsers record, refer to every frame but their hidden ones)."""
    extradata = bytes(stream.codec_context.extradata or b"")
    if stream.codec_context.name != "h264" or len(extradata) < 5 or extradata[0] != 1:
        return None
    size = (extradata[4] & 3) + 1  # avcC: the bytes of each NAL unit's length

    def disposable(packet) -> bool:
        data, i, slices = memoryview(packet), 0, 0
        while i + size < len(data):
            header = data[i + size]
            if header & 0x1F in (1, 5):  # a slice of a picture
                if header & 0x60:  # nal_ref_idc: another frame refers to it
                    return False
                slices += 1
            i += size + int.from_bytes(data[i : i + size], "big")
        return slices > 0

    return disposable


class _Unplaced(Exception):
    """A decoded frame whose pts names no frame of the recording: its place can only be counted."""


def _frames_counted(container, stream, places: dict) -> Iterator[tuple[int, object]]:
    last = max(places) if places else -1
    for n, frame in enumerate(container.decode(stream)):
        if n > last:
            return
        if n in places:
            yield n, frame


def _frames_needed(container, stream, places: dict, stamps: np.ndarray, disposable) -> Iterator[tuple[int, object]]:
    place = {int(stamp): n for n, stamp in enumerate(stamps.tolist())}
    for packet in container.demux(stream):
        if packet.size and place.get(packet.pts) not in places and disposable(packet):
            continue
        for frame in packet.decode():
            n = place.get(frame.pts)
            if n is None:
                raise _Unplaced
            if n in places:
                yield n, frame


def _decode(path: str | Path, places: dict[int, list[tuple[int, int]]], convert: FrameConverter,
            stamps: np.ndarray | None = None) -> Iterator[tuple[int, object]]:
    """Decode in display order, yielding (frame number, ``convert(frame, places)``) for the frame numbers in
    ``places``. Given the frames' pts (``stamps``, display order), an H.264 frame that is neither sampled nor
    referred to by another frame is not decoded at all (about a third of x264's frames, a third of the
    decoding time): each decoded frame's pts then names its place (should a decoder leave a frame without
    one, the rest is decoded again, counting frames)."""
    import av

    left, skipping = dict(places), stamps is not None
    while True:
        container, stream = _open(path)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = _DECODE_THREADS["n"]
        disposable = h264_disposable(stream) if skipping else None
        try:
            frames = _frames_needed(container, stream, left, stamps, disposable) if disposable else \
                _frames_counted(container, stream, left)
            for n, frame in frames:
                yield n, convert(frame, left.pop(n))
                if not left:
                    return
            return
        except _Unplaced:
            skipping = False  # decode again from the start, counting frames
        except (av.FFmpegError, OSError):
            return  # the caller sees which frames never came
        finally:
            container.close()


def iter_segments(
    path: str | Path, segments: list[tuple[float | None, float | None]], n_samples: int,
    convert: FrameConverter = _bgr_of,
) -> tuple[VideoInfo, Iterator[SegmentFrames]]:
    """Decode a recording once for all its ``segments`` (``(start_s, end_s)``, None: the whole recording).

    ``convert`` turns each sampled frame into what the segment holds (default: its BGR pixels); it gets the
    decoded frame and the (segment, position) places it fills, so a caller can start work on a frame (in a
    thread, say) before its segment is complete.

    Returns:
        The probed info, and an iterator that yields each segment's frames as soon as they are decoded (in
        time order; a segment too short for ``n_samples`` frames, or cut off, comes with its ``error``).

    Raises:
        VideoError: the file itself is unusable (missing, empty, unreadable, no video packets).
    """
    container, stream = _open(path)
    try:
        info, times, stamps = _probe(container, stream, path)
    finally:
        container.close()
    announced = max(info.n_frames, info.header_frames)
    return info, _segment_frames(path, times, segments, n_samples, announced, convert, stamps)


def _segment_frames(path, times: np.ndarray, segments, n_samples: int, announced: int,
                    convert: FrameConverter, stamps: np.ndarray | None = None) -> Iterator[SegmentFrames]:
    plan: list[SegmentFrames] = []
    for k, (start, end) in enumerate(segments):
        try:
            plan.append(SegmentFrames(k, segment_indices(times, start, end, n_samples), []))
        except VideoError as err:
            plan.append(SegmentFrames(k, np.zeros(0, np.int64), [], err))
    todo = sorted((s for s in plan if s.error is None), key=lambda s: int(s.frame_index.max()))
    places: dict[int, list[tuple[int, int]]] = {}  # frame number -> (segment, position) it fills
    for s in todo:
        for position, i in enumerate(s.frame_index.tolist()):
            places.setdefault(i, []).append((s.index, position))
    got: dict[int, dict[int, object]] = {s.index: {} for s in todo}
    distinct = {s.index: len(np.unique(s.frame_index)) for s in todo}  # frames a segment waits for
    decoded = 0
    queue = iter(todo)
    current = next(queue, None)
    for s in (p for p in plan if p.error is not None):
        yield s
    for n, pixels in _decode(path, places, convert, stamps):
        decoded = n + 1
        for k in {k for k, _ in places[n]}:
            got[k][n] = pixels
        while current is not None and len(got[current.index]) == distinct[current.index]:
            current.frames = [got[current.index][i] for i in current.frame_index.tolist()]
            del got[current.index]
            yield current
            current = next(queue, None)
    if current is None:
        return
    # decoding stopped early: the rest is cut off
    decoded = max(decoded, max((max(g) + 1 for g in got.values() if g), default=0))
    reason = (f"truncated: {decoded} of {announced} frames decode" if decoded < TRUNCATED_BELOW * announced
              else f"cut off: frames {decoded}.. of {announced} do not decode")
    while current is not None:
        current.frames = []
        current.error = VideoError(reason)
        yield current
        current = next(queue, None)


def read_sampled_frames(
    path: str | Path,
    n_samples: int,
    start_s: float | None = None,
    end_s: float | None = None,
) -> tuple[np.ndarray, list[np.ndarray], VideoInfo]:
    """Decode ``n_samples`` frames spread evenly over a clip (or its ``[start_s, end_s)`` segment).

    Returns:
        The source frame numbers, the BGR frames, and the probed info.

    Raises:
        VideoError: unreadable, too short, or truncated.
    """
    info, segments = iter_segments(path, [(start_s, end_s)], n_samples)
    (segment,) = list(segments)
    if segment.error is not None:
        raise segment.error
    return segment.frame_index, segment.frames, info


def decode_all_frames(path: str | Path) -> int:
    """Decode every frame (the floor any featurizer pays, no pixel conversion); returns the number decoded."""
    import av

    container, stream = _open(path)
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = _DECODE_THREADS["n"]
    n = 0
    try:
        for _ in container.decode(stream):
            n += 1
    except (av.FFmpegError, OSError):
        pass
    finally:
        container.close()
    return n


def remux(src: str | Path, dst: str | Path) -> Path:
    """Copy a recording's audio and video packets into a new container of the same kind, without
    re-encoding: FFmpeg's muxer writes what Chrome's MediaRecorder leaves out (a WebM Duration and Cues), so
    the file gets a duration and can be seeked. Frame times are unchanged, so are its segments."""
    import av

    src, dst = Path(src), Path(dst)
    with av.open(str(src)) as source:
        kind = "webm" if "matroska" in source.format.name or "webm" in source.format.name else "mp4"
        with av.open(str(dst), mode="w", format=kind) as target:
            streams = {s.index: target.add_stream_from_template(s) for s in source.streams if s.type in ("video", "audio")}
            for packet in source.demux():
                if packet.dts is None or packet.stream.index not in streams:
                    continue  # flush packets
                packet.stream = streams[packet.stream.index]
                target.mux(packet)
    return dst


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int, codec: str = "libx264") -> Path:
    """Encode RGB uint8 frames with PyAV (FFmpeg in the wheel): ``libx264`` mp4 or ``libvpx`` webm.

    Single-threaded encoding at a fixed speed so that the same frames give the same bytes: VP8's realtime mode
    with a positive ``cpu-used`` picks its speed from how long each frame took, so a loaded machine wrote other
    bytes for the same seed; a negative value fixes the speed.
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
                    stream.options = {"threads": "1", "deadline": "realtime", "cpu-used": "-8"}
                    stream.bit_rate = 1_000_000
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path
