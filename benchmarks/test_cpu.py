"""`make test-cpu`: `make test`'s pytest run with every Python process's CPU recorded, then where the CPU went.

The 6-minute goal for `make test` on two cores is a CPU budget (about 720 CPU-seconds), so this reports CPU, not
wall time: by command (a pipeline stage, the CLI, dvc, a pytest worker) and by the heaviest library each process
imported (`import keras` on TensorFlow alone costs 4-5 CPU s; docs/measurements.md). Processes that replace
PYTHONPATH (the JAX tests' children) and non-Python processes (Chromium) are not counted: the total is a lower
bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer

HOOK = Path(__file__).parent / "process_cpu"


def command_name(argv: str) -> str:
    """A process's command, without paths and arguments: 'evaluate.py', 'sales-ability promote', 'pytest worker'."""
    words = argv.split()
    if not words:
        return "?"
    if words[0] == "-c":
        return "python -c (pytest workers, inline scripts)"
    name = words[0].rsplit("/", 1)[-1]
    if name == "__main__.py":  # python -m package
        name = f"python -m {words[0].rsplit('/', 2)[-2]}"
    if name in ("sales-ability", "dvc", "airflow") and len(words) > 1 and not words[1].startswith("-"):
        return f"{name} {words[1]}"
    return name


def heaviest(imported: list[str]) -> str:
    for library in ("tensorflow", "jax", "airflow", "mlflow"):
        if library in imported:
            return library
    return "none of these"


def summarize(records: list[dict]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """{command: [processes, cpu_s]} and {heaviest library imported: [processes, cpu_s]}."""
    by_command: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    by_library: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for record in records:
        for table, key in ((by_command, command_name(record["argv"])), (by_library, heaviest(record["imported"]))):
            table[key][0] += 1
            table[key][1] += record["cpu_s"]
    return dict(by_command), dict(by_library)


app = typer.Typer(add_completion=False)


@app.command(context_settings={"ignore_unknown_options": True})
def main(
    pytest_args: Annotated[list[str] | None, typer.Argument(help="pytest's arguments, after -- (default: make test's)",
                                                            show_default=False)] = None,
    top: Annotated[int, typer.Option(help="commands shown, most CPU first")] = 25,
) -> None:
    """Run the tests with every Python process's CPU recorded, then print where the CPU went."""
    from rich.console import Console
    from rich.table import Table

    args = pytest_args or ["-n", "3", "--dist", "loadfile", "--no-loadscope-reorder", "--durations=15"]
    log = Path(tempfile.mkdtemp(prefix="test-cpu-")) / "processes.jsonl"
    env = {**os.environ, "PROCESS_CPU_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH")]))}
    started = time.time()
    tests = subprocess.run([sys.executable, "-m", "pytest", *args], env=env)
    wall = time.time() - started
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    by_command, by_library = summarize(records)
    total = sum(cpu for _, cpu in by_command.values())
    console = Console()
    for title, rows in ((f"CPU by command (the {top} largest)", sorted(by_command.items(), key=lambda r: -r[1][1])[:top]),
                        ("CPU by the heaviest library imported", sorted(by_library.items(), key=lambda r: -r[1][1]))):
        table = Table(title=title)
        for column in ("command" if "command" in title else "library", "processes", "CPU s", "share"):
            table.add_column(column, justify="left" if column in ("command", "library") else "right")
        for key, (processes, cpu) in rows:
            table.add_row(key, str(processes), f"{cpu:.1f}", f"{cpu / total:.0%}" if total else "-")
        console.print(table)
    console.print(f"{len(records)} Python processes, {total:.0f} CPU s recorded in {wall:.0f} s of wall time "
                  f"({total / wall if wall else 0:.2f} cores busy on average; log: {log})")
    raise typer.Exit(tests.returncode)


if __name__ == "__main__":
    app()
