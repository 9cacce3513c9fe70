"""Atomic writes (a reader never sees half a file, an interrupted run leaves the old file or none) and
content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


def _read_umask() -> int:
    umask = os.umask(0)  # the only way to read it is to set it: done once, at import, not per write
    os.umask(umask)
    return umask


_UMASK = _read_umask()  # read per write, a thread creating a file meanwhile would get mode 0666


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` only on success.

    The file is flushed to disk before the rename and the folder after it, so a power cut leaves the old file
    or the whole new one, never a renamed but empty ``model.keras``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes the file 0600; give it the mode a plain open() would
            tmp_path.chmod(0o666 & ~_UMASK)
            _fsync(tmp_path)
        os.replace(tmp_path, path)
        _fsync(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_csv_atomic(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as CSV (no index) to ``path`` atomically."""
    write_text_atomic(path, frame.to_csv(index=False))


def write_parquet_atomic(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet (no index; the dtypes travel with it) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


@contextlib.contextmanager
def file_lock(path: str | Path | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) across threads and processes; None: no lock."""
    if path is None:
        yield
        return
    import fcntl

    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# a spreadsheet runs a cell that starts with one of these as a formula (OWASP's CSV injection list); "'" is
# escaped too, so that neutralising can be undone exactly by the project's own readers
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula, prefixed with ``'`` (other values unchanged)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell (and column name) spreadsheet-safe (``neutralise_cell``)."""
    safe = frame.rename(columns=neutralise_cell)
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]) and not pd.api.types.is_bool_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_cell)
    return safe


def write_csv_neutralised(path: str | Path, frame: pd.DataFrame) -> None:
    """``write_csv_atomic`` of ``neutralised(frame)``."""
    write_csv_atomic(path, neutralised(frame))


def read_csv_neutralised(path: str | Path) -> pd.DataFrame:
    """A CSV written by ``write_csv_neutralised``, as text, with the neutralising prefix removed."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = [c[1:] if c.startswith("'") else c for c in frame.columns]
    return frame.apply(lambda col: col.map(lambda v: v[1:] if v.startswith("'") else v)) if len(frame) else frame


def content_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a regular file's bytes (a renamed copy has the same hash).

    Opened without following a link and without blocking, then checked to be a regular file, so a FIFO or
    device named like a video raises ``OSError`` at once instead of hanging the caller."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        digest = hashlib.sha256()
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
