"""Quiet by default, everything with --verbose: shown on output the test provokes itself, the way a native
library writes it (straight to file descriptor 2), so nothing depends on what a library prints on one CPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROGRAM = """
import os, sys
from sales_ability.quiet import quiet
quiet()
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1796303853.992902    9100 port.cc:153] oneDNN custom operations are on.\\n")
print("our own message", file=sys.stderr)
os.write(2, b"E0000 a native error the operator must see\\n")
os.abort() if "crash" in sys.argv else None
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_informational_native_lines_are_hidden_unless_verbose_and_everything_else_shows(verbose: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SALES_ABILITY_VERBOSE"}
    if verbose:
        env["SALES_ABILITY_VERBOSE"] = "1"  # what the CLI's --verbose sets
    run = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "our own message" in run.stderr and "a native error the operator must see" in run.stderr
    assert ("oneDNN" in run.stderr) is verbose and ("absl::InitializeLog" in run.stderr) is verbose


def test_a_native_crash_leaves_its_trace_in_the_log() -> None:
    """An unattended run that dies in native code leaves what it wrote and a Python traceback, not an empty log."""
    env = {k: v for k, v in os.environ.items() if k != "SALES_ABILITY_VERBOSE"}
    run = subprocess.run([sys.executable, "-c", PROGRAM, "crash"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode != 0
    assert "a native error the operator must see" in run.stderr and "Fatal Python error: Aborted" in run.stderr
    assert "oneDNN" not in run.stderr
