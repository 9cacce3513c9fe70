"""The committed dvc.lock must describe the committed code and params (else a newcomer's `make demo` dirties git)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import copy_project


def stale_dependencies(status: dict) -> list[str]:
    """``stage: path (change)`` for each code or params dependency `dvc status --json` reports modified or new.

    A dependency reported ``deleted`` is data (raw videos, another stage's output): a fresh checkout has
    none, which is expected, so it does not count.
    """
    stale = []
    for stage, changes in status.items():
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict):
                continue
            for path, state in change.get("changed deps", {}).items():
                if state != "deleted":
                    stale.append(f"{stage}: {path} ({state})")
            for path, params in change.get("changed params", {}).items():
                stale.append(f"{stage}: {path} {params}")
    return stale


def test_committed_dvc_lock_matches_code_and_params(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "checkout")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc = Path(sys.executable).parent / "dvc"
    run = subprocess.run([str(dvc), "status", "--json"], cwd=root, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert run.returncode == 0, run.stderr
    stale = stale_dependencies(json.loads(run.stdout or "{}"))
    assert not stale, "dvc.lock is stale: run `make demo` and commit dvc.lock\n" + "\n".join(stale)


def test_stale_dependencies_reads_dvc_status_json() -> None:
    status = {
        "train": [{"changed deps": {"src/sales_ability/model.py": "modified", "data/faces/train": "deleted",
                                    "reports/predictions_test.csv": "deleted", "src/sales_ability/new.py": "new"}},
                  {"changed outs": {"models/train": "deleted"}}],
        "rate": [{"changed deps": {"params.yaml": {"knowledge_base.directions": "modified"}}},
                 {"changed params": {"params.yaml": {"knowledge_base.directions": "modified"}}}],
        "demo_data": ["always changed"],
    }
    stale = stale_dependencies(status)
    assert "train: src/sales_ability/model.py (modified)" in stale and "train: src/sales_ability/new.py (new)" in stale
    assert not any("data/faces" in s or "reports/" in s for s in stale)
    assert any(s.startswith("rate: params.yaml") for s in stale)
