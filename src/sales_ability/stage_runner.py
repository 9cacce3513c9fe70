"""The entry point every DVC stage script goes through.

It runs the stage's ``main`` with the command-line arguments, records the stage's wall time in
``metrics/stage_times.json`` (``sales-ability summary`` prints them), and prints a ``SalesAbilityError`` as
one line naming the problem, exiting 2, instead of a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sales_ability.errors import SalesAbilityError
from sales_ability.io_utils import write_json_atomic
from sales_ability.quiet import quiet

STAGE_TIMES = Path("metrics/stage_times.json")


def record_stage_time(stage: str, seconds: float, path: Path = STAGE_TIMES) -> None:
    """Add (or replace) one stage's wall time in the stage-times file."""
    times = json.loads(path.read_text()) if path.is_file() else {}
    times[stage] = round(seconds, 1)
    write_json_atomic(path, times)


def run_stage(stage: str, main: Callable[..., None], argv: list[str] | None = None) -> None:
    """Run ``main(*argv)`` as DVC stage ``stage``: timed from the process's start (imports count), with
    clear errors."""
    import psutil

    quiet()  # TensorFlow/absl/FFmpeg/MLflow chatter off (SALES_ABILITY_VERBOSE=1 keeps it)
    started = psutil.Process().create_time()
    try:
        main(*(sys.argv[1:] if argv is None else argv))
    except SalesAbilityError as err:
        print(f"{stage}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    record_stage_time(stage, time.time() - started)
