"""DVC stage fit_thresholds: the training labels of the active dataset -> knowledge base (KB.json)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sales_ability.config import load_params
from sales_ability.knowledge_base import fit_knowledge_base, save_knowledge_base
from sales_ability.tracking import log_files, stage_run
from sales_ability.validation import plot_trait_distributions
from sales_ability.stage_runner import run_stage


STAGE = "fit_thresholds"


def main(manifest_file: str, kb_file: str, figure_file: str) -> None:
    kbp = load_params().knowledge_base
    manifest = pd.read_csv(manifest_file, dtype={"clip_id": str, "split": str})
    train = manifest[manifest["split"] == "train"]
    kb = fit_knowledge_base(train, dict(kbp.directions), list(kbp.distributions), source=f"{manifest_file} (train split)")
    save_knowledge_base(kb, kb_file)
    figure = plot_trait_distributions(train, kb, figure_file)
    with stage_run("fit_thresholds", params={"training_clips": len(train), "distributions": ",".join(kbp.distributions)}):
        import mlflow

        for trait, entry in kb["traits"].items():
            mlflow.log_metrics({f"{trait}.ks_statistic": entry["distribution"]["ks_statistic"],
                                f"{trait}.aic": entry["distribution"]["aic"]})
            mlflow.set_tag(f"{trait}.distribution", entry["distribution"]["name"])
        log_files([Path(kb_file), figure], artifact_path="knowledge_base")
    print(f"fit_thresholds: {len(train)} training clips -> {kb_file}")


if __name__ == "__main__":
    run_stage(STAGE, main)
