"""The documented `dvc add` of a raw dataset works in a clone: the .dvc file is tracked, the videos never are."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_dvc_add_of_a_raw_dataset_tracks_its_dvc_file_and_ignores_the_videos(tmp_path: Path) -> None:
    dvc = str(Path(sys.executable).parent / "dvc")
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=tmp_path, check=True)
    for name in ("collected/p1/answer_1.webm", "first_impressions/train/a.mp4"):
        (tmp_path / "data/raw" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data/raw" / name).write_bytes(b"video bytes " + name.encode())
    for dataset in ("data/raw/collected", "data/raw/first_impressions"):  # the commands the docs give
        added = subprocess.run([dvc, "add", dataset], cwd=tmp_path, capture_output=True, text=True)
        assert added.returncode == 0, added.stderr
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    assert "data/raw/collected.dvc" in status and "data/raw/first_impressions.dvc" in status
    assert ".webm" not in status and ".mp4" not in status  # the bytes live in DVC, never in git
    # DVC itself must find the .dvc files: its own ignore matcher reads `/data/raw/*` as ignoring data/raw/,
    # and then `dvc push` and `dvc status` (no targets) silently skip both datasets
    subprocess.run([dvc, "remote", "add", "-d", "local", str(tmp_path / "remote")], cwd=tmp_path, check=True)
    pushed = subprocess.run([dvc, "push"], cwd=tmp_path, capture_output=True, text=True)
    assert pushed.returncode == 0 and "files pushed" in pushed.stdout, pushed.stdout + pushed.stderr
    remote = b"".join(p.read_bytes() for p in (tmp_path / "remote").rglob("*") if p.is_file())
    assert b"video bytes collected/p1/answer_1.webm" in remote and b"video bytes first_impressions" in remote
