"""The prepare stages: a dataset's raw folder -> clip manifest (participants, splits, labels)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sales_ability.config import Params
from sales_ability.data.datasets import build_manifest
from sales_ability.io_utils import write_csv_atomic


def run_prepare(role: str, raw_dir: Path, manifest_file: Path, params: Params) -> tuple[pd.DataFrame, dict[str, str]]:
    """``role`` is ``train`` (the ``dataset`` params) or ``finetune`` (``finetune.dataset``, ``finetune.split``
    and its split fractions). Returns the manifest written and the participants left out, with reasons."""
    if role == "finetune":
        ft = params.finetune
        dataset = params.dataset.model_copy(update={
            "name": ft.dataset, "split": ft.split, "split_fractions": ft.split_fractions or params.dataset.split_fractions})
        params = params.model_copy(update={"dataset": dataset})
    skipped: dict[str, str] = {}
    manifest = build_manifest(raw_dir, params, skipped)
    write_csv_atomic(manifest_file, manifest)
    return manifest, skipped
