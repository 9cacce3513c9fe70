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
os.write(2, b"native noise from C\\n")   # what TensorFlow's absl/oneDNN lines and FFmpeg's warnings do
print("our own message", file=sys.stderr)
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_native_noise_is_hidden_unless_verbose_and_our_messages_always_show(verbose: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SALES_ABILITY_VERBOSE"}
    if verbose:
        env["SALES_ABILITY_VERBOSE"] = "1"  # what the CLI's --verbose sets
    run = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "our own message" in run.stderr
    assert ("native noise from C" in run.stderr) is verbose
