"""Is an upload really a video? Check the container's magic bytes, then let FFmpeg (PyAV) open it."""

from __future__ import annotations

import tempfile
from pathlib import Path

_WEBM = b"\x1a\x45\xdf\xa3"  # EBML header (webm, mkv)


def container_extension(data: bytes) -> str | None:
    """``.webm`` or ``.mp4`` from the first bytes, or None."""
    if data[:4] == _WEBM:
        return ".webm"
    if data[4:8] == b"ftyp":
        return ".mp4"
    return None


def is_decodable_video(data: bytes, extension: str) -> bool:
    """FFmpeg opens it and finds a video stream with at least one decodable frame."""
    import av

    with tempfile.NamedTemporaryFile(suffix=extension) as tmp:
        Path(tmp.name).write_bytes(data)
        try:
            with av.open(tmp.name) as container:
                if not container.streams.video:
                    return False
                for _ in container.decode(video=0):
                    return True
        except (av.FFmpegError, ValueError, OSError):
            return False
    return False
