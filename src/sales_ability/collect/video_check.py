"""Is an upload a whole recording the pipeline can use, and what may checking it cost?

The check bounds its cost before it decodes: the container's magic bytes, then the header's picture size,
frame count, duration and frame rate against ``RecordingLimits``; while decoding it stops at the limits
(frames, duration, every decoded picture's size). It requires one video stream (at most one audio), frame
times that increase, every frame decoded, at least ``min_frames`` of them, and the recording to reach its
end: mp4's top-level boxes must tile the file; a WebM that declares a duration must decode to it, and one
that does not (a browser's live recording) must end at its last whole packet. The website runs it in a
worker thread, at most ``max_checks`` at once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_WEBM = b"\x1a\x45\xdf\xa3"  # EBML header (webm, mkv)
# What a muxer may legitimately write after the last packet (webm cues, seek index): more is not a recording.
TRAILING_SLACK_BYTES = 32 * 1024
# A live recording (no declared duration, as Chrome's MediaRecorder writes) ends with its last block: a few
# bytes of element padding at most. A cut one leaves the part of its last block that lost its end.
LIVE_TRAILING_BYTES = 256
# Top-level mp4 boxes a recorder writes (ISO/IEC 14496-12): anything else after them is not the recording.
MP4_TOP_LEVEL = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"moof", b"mfra", b"styp", b"sidx",
                 b"meta", b"pdin", b"prft", b"emsg"}


class RecordingError(ValueError):
    """The upload is not a usable recording; ``status`` is the HTTP status to answer (415 or 422)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class RecordingLimits:
    """What a recording may be (the page records 640x480 and stops at 3:00)."""

    max_pixels: int = 1920 * 1080  # width x height of the picture
    max_seconds: float = 185.0  # the page's 3:00 and a little slack
    max_fps: float = 60.0
    min_seconds: float = 2.0  # shorter is not an answer (and 60 frames in 0.06 s is not a recording)
    declared_end_slack_s: float = 0.5  # a declared duration the decoded frames fall this far short of: cut off

    @property
    def max_frames(self) -> int:
        return int(self.max_seconds * self.max_fps)


@dataclass(frozen=True)
class Recording:
    """What the check found."""

    extension: str  # ".webm" or ".mp4"
    frames: int
    bytes: int
    seconds: float = 0.0


def container_extension(head: bytes) -> str | None:
    """``.webm`` or ``.mp4`` from the first bytes, or None."""
    if head[:4] == _WEBM:
        return ".webm"
    if head[4:8] == b"ftyp":
        return ".mp4"
    return None


def _mp4_problem(path: Path, size: int) -> str | None:
    """Why the top-level boxes of an mp4 do not tile the file exactly, or None when they do."""
    offset = 0
    with path.open("rb") as fh:
        while offset + 8 <= size:
            fh.seek(offset)
            length, kind = struct.unpack(">I4s", fh.read(8))
            if length == 1:
                length = struct.unpack(">Q", fh.read(8))[0]
            elif length == 0:  # "extends to the end of the file"
                length = size - offset
            if length < 8 or kind not in MP4_TOP_LEVEL:
                break
            if offset + length > size:
                return f"the recording is cut off ({offset + length - size} bytes of its '{kind.decode()}' box are missing)"
            offset += length
    return None if offset == size else f"{size - offset} bytes of data after the end of the recording"


_CLUSTER = b"\x1f\x43\xb6\x75"
_CLUSTER_CHILDREN = {0xE7, 0xA3, 0xA0, 0xA7, 0xAB, 0xEC, 0xBF}  # Timecode, SimpleBlock, BlockGroup, Position, ...


def _vint(data: bytes, at: int, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``at``: (value, length), or None past the end."""
    if at >= len(data) or data[at] == 0:
        return None
    length = 9 - data[at].bit_length()
    if at + length > len(data):
        return None
    value = int.from_bytes(data[at:at + length], "big")
    return (value if keep_marker else value & ((1 << (7 * length)) - 1)), length


def _live_webm_cut(path: Path, size: int) -> str | None:
    """For a WebM without a declared duration (a live recording): walk its last cluster; a block whose
    declared size runs past the end of the file means the recording was cut off. None when it ends whole."""
    with path.open("rb") as fh:
        fh.seek(max(0, size - 8 * 1024 * 1024))
        tail = fh.read()
    start = len(tail)
    for _ in range(8):  # the cluster id may also occur inside a block's payload: try the earlier ones
        start = tail.rfind(_CLUSTER, 0, start)
        if start < 0:
            return None
        header = _vint(tail, start + 4, keep_marker=False)
        if header is None:
            continue
        at, valid = start + 4 + header[1], True
        while at < len(tail):
            element, size_field = _vint(tail, at, keep_marker=True), None
            if element is not None:
                size_field = _vint(tail, at + element[1], keep_marker=False)
            if element is None or element[0] not in _CLUSTER_CHILDREN:
                valid = False
                break
            if size_field is None or at + element[1] + size_field[1] + size_field[0] > len(tail):
                missing = (at + element[1] + (size_field[1] + size_field[0] if size_field else 0)) - len(tail)
                return f"the recording is cut off: its last block misses {max(missing, 1)} bytes"
            at += element[1] + size_field[1] + size_field[0]
        if valid:
            return None
    return None


def _header_problem(container, video, limits: RecordingLimits) -> str | None:
    """Why the header alone already says no (before any frame is decoded), or None."""
    audio = container.streams.audio
    if len(container.streams.video) != 1 or len(audio) > 1:
        return (f"one recording per upload: it holds {len(container.streams.video)} video and {len(audio)} audio "
                "streams")
    if video.width * video.height > limits.max_pixels:
        return f"the picture is {video.width}x{video.height}, larger than the {limits.max_pixels:,} pixels accepted"
    declared = container.duration / 1e6 if container.duration else None
    if declared is not None and declared > limits.max_seconds:
        return f"the recording declares {declared:.0f} s, longer than the {limits.max_seconds:.0f} s accepted"
    if video.frames and video.frames > limits.max_frames:
        return f"the recording declares {video.frames} frames, more than the {limits.max_frames} accepted"
    rate = float(video.average_rate or 0)
    if rate > limits.max_fps:
        return f"the recording declares {rate:.0f} frames/s, more than the {limits.max_fps:.0f} accepted"
    return None


def check_recording(path: str | Path, min_frames: int, limits: RecordingLimits | None = None) -> Recording:
    """Check the recording's header, then decode it (stopping at the limits) and check it is one.

    Raises:
        RecordingError: 415 when it is not a webm or mp4 video; 422 when its header exceeds the limits, it is
            damaged or cut off, holds fewer than ``min_frames`` frames or is too short or too long, its frame
            times go back, or it carries data after the recording.
    """
    import av

    limits = limits or RecordingLimits()
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        extension = container_extension(fh.read(12))
    if extension is None:
        raise RecordingError(415, "not a video: the upload must be a webm or mp4 recording")
    if extension == ".mp4" and (problem := _mp4_problem(path, size)):
        raise RecordingError(422, problem)
    frames, last_byte, first_time, last_time, step = 0, 0, None, None, 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise RecordingError(415, "not a video: the file holds no video stream")
            video = container.streams.video[0]
            if problem := _header_problem(container, video, limits):
                raise RecordingError(422, problem)
            declared = container.duration / 1e6 if container.duration else None
            video.thread_count = 1  # one core per check: max_checks bounds the CPU
            for packet in container.demux():
                if packet.pos is not None and packet.pos >= 0 and packet.size:
                    last_byte = max(last_byte, packet.pos + packet.size)
                if packet.stream is not video:
                    continue
                for frame in packet.decode():
                    if frame.width * frame.height > limits.max_pixels:
                        raise RecordingError(422, f"a frame is {frame.width}x{frame.height}, larger than accepted")
                    t = frame.time
                    # Equal times are allowed: Chrome's MediaRecorder stamps in milliseconds and, on a busy
                    # machine, gives two frames the same stamp (seen in CI: frame 42 at 1.404 s twice).
                    if t is None or (last_time is not None and t < last_time):
                        raise RecordingError(422, f"frame {frames} has time {t}, before the previous frame's "
                                                  f"({last_time}): not one recording")
                    if last_time is not None:
                        step = t - last_time
                    first_time = t if first_time is None else first_time
                    last_time = t
                    frames += 1
                    if frames > limits.max_frames or t - first_time > limits.max_seconds:
                        raise RecordingError(422, f"the recording is longer than the {limits.max_seconds:.0f} s "
                                                  f"({limits.max_frames} frames) accepted")
    except (av.FFmpegError, OSError) as err:
        if frames == 0:
            raise RecordingError(415, f"not a video: FFmpeg cannot read it ({err})") from None
        raise RecordingError(422, f"the recording is damaged after frame {frames} ({err})") from None
    if frames < min_frames:
        raise RecordingError(422, f"the recording holds {frames} frames; at least {min_frames} are needed "
                                  "(record a few seconds more)")
    seconds = (last_time - first_time) + step
    if seconds < limits.min_seconds:
        raise RecordingError(422, f"the recording lasts {seconds:.2f} s; at least {limits.min_seconds:g} s are needed")
    if frames / seconds > limits.max_fps * 1.05:
        raise RecordingError(422, f"{frames} frames in {seconds:.2f} s is more than {limits.max_fps:.0f} frames/s")
    if extension == ".webm":
        trailing = size - last_byte
        if declared is not None and last_time + step < declared - limits.declared_end_slack_s:
            raise RecordingError(422, f"the recording is cut off: it declares {declared:.1f} s and its frames end at "
                                      f"{last_time + step:.1f} s")
        if declared is None and (problem := _live_webm_cut(path, size)):
            raise RecordingError(422, problem)
        if declared is None and trailing > LIVE_TRAILING_BYTES:
            raise RecordingError(422, f"the recording is cut off: {trailing} bytes of an incomplete last block")
        if trailing > TRAILING_SLACK_BYTES:
            raise RecordingError(422, f"{trailing} bytes of data after the end of the recording")
    return Recording(extension, frames, size, round(seconds, 3))
