"""`make test-cpu`'s hook and report: a child process records itself, and the report groups by command and library."""

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.test_cpu import HOOK, command_name, summarize


def test_a_python_child_records_its_command_cpu_and_heavy_imports(tmp_path: Path) -> None:
    log = tmp_path / "processes.jsonl"
    env = {**os.environ, "PROCESS_CPU_LOG": str(log), "PYTHONPATH": str(HOOK)}
    subprocess.run([sys.executable, "-c", "import json; sum(range(10**6))"], env=env, check=True)
    subprocess.run([sys.executable, "-c", "import json"], env={**env, "PROCESS_CPU_LOG": ""}, check=True)  # not asked
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["argv"] == "-c" and record["cpu_s"] > 0 and record["wall_s"] > 0 and record["imported"] == []


def test_the_report_groups_processes_by_command_and_heaviest_library() -> None:
    records = [
        {"argv": "pipelines/evaluate.py models/finetune", "cpu_s": 19.0, "imported": ["tensorflow", "keras", "jax", "mlflow"]},
        {"argv": "/venv/bin/sales-ability promote propose", "cpu_s": 20.0, "imported": ["tensorflow", "mlflow"]},
        {"argv": "/venv/bin/dvc status --json", "cpu_s": 1.0, "imported": []},
        {"argv": "/venv/bin/dvc status", "cpu_s": 0.5, "imported": []},
        {"argv": "-c", "cpu_s": 2.0, "imported": ["jax"]},
    ]
    by_command, by_library = summarize(records)
    assert by_command == {"evaluate.py": [1, 19.0], "sales-ability promote": [1, 20.0], "dvc status": [2, 1.5],
                          "python -c (pytest workers, inline scripts)": [1, 2.0]}
    assert by_library == {"tensorflow": [2, 39.0], "none of these": [2, 1.5], "jax": [1, 2.0]}
    assert command_name("") == "?" and command_name("/venv/bin/dvc --version") == "dvc"
    assert command_name("/venv/lib/site-packages/pytest/__main__.py -n 3") == "python -m pytest"
