"""Keep third-party start-up noise off the terminal: the CLI and the DVC stage scripts call ``quiet()``.

Each library is switched off by its own setting where it has one: OpenCV's and FFmpeg's log levels, MLflow's
progress bars and log level, Python warnings and loggers. TensorFlow has none for the lines it writes from
C++ before any setting is read ("All log messages before absl::InitializeLog()", oneDNN's notice), so file
descriptor 2 passes through a filter process that drops exactly those informational absl lines and lets
everything else through: a native crash, FFmpeg's errors and anything unknown still reach the log of an
unattended Airflow run (the filter outlives a crashing process and drains what it wrote). ``faulthandler``
prints a Python traceback on a native crash. Our own messages and rich progress go straight to the terminal.
``--verbose`` (or ``SALES_ABILITY_VERBOSE=1``) skips all of it.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import subprocess
import sys
import warnings

from sales_ability.settings import settings

VERBOSE_ENV = "SALES_ABILITY_VERBOSE"
_QUIET_SETTINGS = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "OPENCV_LOG_LEVEL": "SILENT",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "PYTHONWARNINGS": "ignore",
}
_NOISY_LOGGERS = ("mlflow", "absl", "tensorflow", "keras", "alembic", "urllib3", "h5py")
# absl's informational lines ("I1203 13:07:26.123456   42 port.cc:153] ...") and its pre-initialisation notice
_FILTER = r"""
import re, sys
noise = re.compile(rb"I\d{4} \d+:\d+:\d+\.\d+ +\d+ [\w.]+:\d+\] |WARNING: All log messages before absl::InitializeLog")
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not noise.match(line):
        out.write(line)
        out.flush()
"""
_done = False


def verbose_requested() -> bool:
    return settings().verbose


def quiet() -> None:
    """Silence third-party noise for the rest of this process (once; a no-op when verbose is requested)."""
    global _done
    if _done or verbose_requested():
        return
    _done = True
    for key, value in _QUIET_SETTINGS.items():
        os.environ.setdefault(key, value)
    warnings.simplefilter("ignore")
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
        subprocess.Popen([sys.executable, "-S", "-c", _FILTER], stdin=read_end, stdout=terminal,
                         stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
        os.close(read_end)
        os.dup2(write_end, 2)  # native writers (and spawned workers, which inherit it) go through the filter
        os.close(write_end)
        sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding="utf-8", errors="replace")
        faulthandler.enable(file=sys.stderr)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): keep the streams as they are
        pass
