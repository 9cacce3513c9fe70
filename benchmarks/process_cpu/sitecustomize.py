"""Loaded by every Python process started with this folder on PYTHONPATH (`make test-cpu`): at exit, one JSON line
with the process's command, CPU and wall seconds and the heavy libraries it imported, appended to $PROCESS_CPU_LOG.

A process that replaces PYTHONPATH, or that is killed, writes nothing; browsers and servers outside Python are not
counted either.
"""

import atexit
import json
import os
import sys
import time

_STARTED = time.time()
_HEAVY = ("tensorflow", "keras", "jax", "mlflow", "airflow")


def _record() -> None:
    log = os.environ.get("PROCESS_CPU_LOG")
    if not log:
        return
    times = os.times()
    record = {"argv": " ".join(sys.argv)[:300], "cpu_s": round(times.user + times.system, 2),
              "wall_s": round(time.time() - _STARTED, 2), "imported": [m for m in _HEAVY if m in sys.modules]}
    try:
        with open(log, "a") as out:  # one short write per line: lines of processes exiting together stay whole
            out.write(json.dumps(record) + "\n")
    except OSError:
        pass  # never fail the process being measured


atexit.register(_record)
