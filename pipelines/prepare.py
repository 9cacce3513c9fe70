"""DVC stages prepare / prepare_finetune: a dataset's raw folder -> clip manifest (participants, splits, labels)."""

from __future__ import annotations

import sys

from sales_ability.config import load_params
from sales_ability.datasets import build_manifest
from sales_ability.io_utils import write_csv_atomic
from sales_ability.stage_runner import run_stage


def main(role: str, raw_dir: str, manifest_file: str) -> None:
    """``role`` is ``train`` (dataset.*) or ``finetune`` (finetune.dataset / finetune.split)."""
    params = load_params()
    if role == "finetune":
        ft = params.finetune
        dataset = params.dataset.model_copy(update={
            "name": ft.dataset, "split": ft.split, "split_fractions": ft.split_fractions or params.dataset.split_fractions})
        params = params.model_copy(update={"dataset": dataset})
    skipped: dict[str, str] = {}
    manifest = build_manifest(raw_dir, params, skipped)
    for participant, reason in skipped.items():
        print(f"prepare ({role}): left out participant {participant}: {reason}", file=sys.stderr)
    write_csv_atomic(manifest_file, manifest)
    print(f"prepare ({role}): {len(manifest)} clips, {manifest['participant_id'].nunique()} participants "
          f"({len(skipped)} left out), splits {manifest['split'].value_counts().to_dict()}")


if __name__ == "__main__":
    run_stage("prepare" if sys.argv[1:2] == ["train"] else "prepare_finetune", main)
