"""DVC stages prepare / prepare_finetune: a dataset's raw folder -> clip manifest (participants, splits, labels)."""

from __future__ import annotations

import sys

from sales_ability.config import load_params
from sales_ability.datasets import build_manifest
from sales_ability.io_utils import write_csv_atomic


def main(role: str, raw_dir: str, manifest_file: str) -> None:
    """``role`` is ``train`` (dataset.*) or ``finetune`` (finetune.dataset / finetune.split)."""
    params = load_params()
    if role == "finetune":
        dataset = params.dataset.model_copy(update={"name": params.finetune.dataset, "split": params.finetune.split})
        params = params.model_copy(update={"dataset": dataset})
    manifest = build_manifest(raw_dir, params)
    write_csv_atomic(manifest_file, manifest)
    print(f"prepare ({role}): {len(manifest)} clips, {manifest['participant_id'].nunique()} participants, "
          f"splits {manifest['split'].value_counts().to_dict()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
