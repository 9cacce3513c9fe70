"""Is an upload a whole recording the pipeline can use? Container magic bytes, structure, and every frame
decoded to the end (off the event loop: the website runs this in a worker thread)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_WEBM = b"\x1a\x45\xdf\xa3"  # EBML header (webm, mkv)
# What a muxer may legitimately write after the last packet (webm cues, seek index): more is not a recording.
TRAILING_SLACK_BYTES = 32 * 1024
# Top-level mp4 boxes a recorder writes (ISO/IEC 14496-12): anything else after them is not the recording.
MP4_TOP_LEVEL = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"moof", b"mfra", b"styp", b"sidx",
                 b"meta", b"pdin", b"prft", b"emsg"}


class RecordingError(ValueError):
    """The upload is not a usable recording; ``status`` is the HTTP status to answer (415 or 422)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Recording:
    """What the check found."""

    extension: str  # ".webm" or ".mp4"
    frames: int
    bytes: int


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


def check_recording(path: str | Path, min_frames: int) -> Recording:
    """Decode the whole recording and check it is one.

    Raises:
        RecordingError: 415 when it is not a webm or mp4 video; 422 when it is damaged, holds fewer than
            ``min_frames`` frames (what featurize needs), or carries data after the recording.
    """
    import av

    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        extension = container_extension(fh.read(12))
    if extension is None:
        raise RecordingError(415, "not a video: the upload must be a webm or mp4 recording")
    if extension == ".mp4" and (problem := _mp4_problem(path, size)):
        raise RecordingError(422, problem)
    frames, last_byte = 0, 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise RecordingError(415, "not a video: the file holds no video stream")
            video = container.streams.video[0]
            for packet in container.demux():
                if packet.pos is not None and packet.pos >= 0 and packet.size:
                    last_byte = max(last_byte, packet.pos + packet.size)
                if packet.stream is video:
                    frames += len(packet.decode())
    except (av.FFmpegError, OSError) as err:
        if frames == 0:
            raise RecordingError(415, f"not a video: FFmpeg cannot read it ({err})") from None
        raise RecordingError(422, f"the recording is damaged after frame {frames} ({err})") from None
    if frames < min_frames:
        raise RecordingError(422, f"the recording holds {frames} frames; at least {min_frames} are needed "
                                  "(record a few seconds more)")
    if extension == ".webm" and size - last_byte > TRAILING_SLACK_BYTES:
        raise RecordingError(422, f"{size - last_byte} bytes of data after the end of the recording")
    return Recording(extension, frames, size)
