"""Keep third-party start-up noise off the terminal: the CLI and the DVC stage scripts call ``quiet()``.

TensorFlow prints its absl and oneDNN lines from C++ before any setting is read, FFmpeg prints container
warnings ("moov atom not found") from C, MLflow logs and draws download progress bars. ``quiet()`` points
the process's file descriptor 2 at /dev/null, so native libraries (and spawned workers, which inherit it)
print nothing, while Python's ``sys.stderr`` moves to a copy of the original descriptor: our own messages,
rich progress and error messages still reach the terminal. ``--verbose`` (or ``SALES_ABILITY_VERBOSE=1``)
skips all of it.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

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
_done = False


def verbose_requested() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


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
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding="utf-8", errors="replace")
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): keep the streams as they are
        pass
