"""DVC stage check_params: params.yaml is validated before any other stage runs.

Every stage depends on this stage's output, so `dvc repro` / `dvc exp run -S key=bad` stops here, with one
line naming the key, before DVC removes any other stage's outputs. The output's content never changes,
so a valid params change re-runs only the stages whose own params changed.
"""

from __future__ import annotations

from sales_ability.config import load_params
from sales_ability.io_utils import write_json_atomic
from sales_ability.stage_runner import run_stage

STAGE = "check_params"


def main(out_file: str) -> None:
    load_params()  # raises ConfigError naming the file and the key
    write_json_atomic(out_file, {"params.yaml": "valid"})


if __name__ == "__main__":
    run_stage(STAGE, main)
