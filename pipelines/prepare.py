"""DVC stages prepare / prepare_finetune: a dataset's raw folder -> clip manifest (participants, splits, labels)."""

from __future__ import annotations

import sys
from pathlib import Path

from sales_ability.config import load_params
from sales_ability.stage_runner import run_stage
from sales_ability.stages.prepare import run_prepare


def main(role: str, raw_dir: str, manifest_file: str) -> None:
    """``role`` is ``train`` (dataset.*) or ``finetune`` (finetune.dataset / finetune.split)."""
    manifest, skipped = run_prepare(role, Path(raw_dir), Path(manifest_file), load_params())
    for participant, reason in skipped.items():
        print(f"prepare ({role}): left out participant {participant}: {reason}", file=sys.stderr)
    print(f"prepare ({role}): {len(manifest)} clips, {manifest['participant_id'].nunique()} participants "
          f"({len(skipped)} left out), splits {manifest['split'].value_counts().to_dict()}")


if __name__ == "__main__":
    run_stage("prepare" if sys.argv[1:2] == ["train"] else "prepare_finetune", main)
