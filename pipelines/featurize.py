"""DVC stage featurize: the manifest's clips -> face tensors (Parquet shards) with labels and split."""

from __future__ import annotations

import sys

import pandas as pd

from sales_ability.config import load_params
from sales_ability.data.featurize import featurize_manifest
from sales_ability.io_utils import write_json_atomic
from sales_ability.stage_runner import run_stage


def main(manifest_file: str, out_dir: str, metrics_file: str) -> None:
    params = load_params()
    manifest = pd.read_csv(manifest_file, dtype={"clip_id": str, "participant_id": str, "split": str})
    summary = featurize_manifest(manifest, out_dir, params.featurize)
    write_json_atomic(metrics_file, {"featurize": {
        "clips": len(manifest), "kept": summary.kept, "rejected": summary.rejected,
        "seconds": round(summary.seconds, 2),
    }})
    print(summary.line())


if __name__ == "__main__":
    # one script, two stages: data/faces/train (featurize) and data/faces/finetune (featurize_finetune)
    run_stage("featurize" if sys.argv[2:3] and sys.argv[2].endswith("train") else "featurize_finetune", main)
