"""DVC stage prepare: the active dataset's raw folder -> clip manifest (participants, splits, labels)."""

from __future__ import annotations

import sys

from sales_ability.config import load_params
from sales_ability.datasets import build_manifest
from sales_ability.io_utils import write_csv_atomic


def main(raw_dir: str, manifest_file: str) -> None:
    manifest = build_manifest(raw_dir, load_params())
    write_csv_atomic(manifest_file, manifest)
    print(f"prepare: {len(manifest)} clips, {manifest['participant_id'].nunique()} participants, "
          f"splits {manifest['split'].value_counts().to_dict()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
