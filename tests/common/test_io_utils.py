"""Atomic writes: all or nothing, and the file a reader can open."""

from __future__ import annotations

from pathlib import Path

import pytest

from sales_ability.io_utils import atomic_path, write_text_atomic


def test_atomic_write_gets_the_umask_mode_not_mkstemps_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sales_ability import io_utils

    monkeypatch.setattr(io_utils, "_UMASK", 0o022)  # the process's umask, read once at import
    write_text_atomic(tmp_path / "report.html", "<html></html>")
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "results.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_an_atomic_write_reaches_the_disk_before_and_after_its_rename(tmp_path: Path, monkeypatch) -> None:
    """The file's data is flushed before the rename and the folder's entry after it (a power cut leaves no empty file)."""
    import os

    synced: list[str] = []
    real_open, real_fsync = os.open, os.fsync
    names: dict[int, str] = {}

    def tracking_open(path, flags, *args):
        fd = real_open(path, flags, *args)
        names[fd] = str(path)
        return fd

    def tracking_fsync(fd):
        synced.append(names.get(fd, "?"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "open", tracking_open)
    monkeypatch.setattr(os, "fsync", tracking_fsync)
    write_text_atomic(tmp_path / "model.json", "{}")
    assert len(synced) == 2 and synced[0].startswith(str(tmp_path / ".model.json.")) and synced[1] == str(tmp_path)
    assert (tmp_path / "model.json").read_text() == "{}"
