"""The fit_thresholds stage: the training labels of the active dataset -> the knowledge base, its figure,
and an MLflow run with each trait's fitted distribution."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sales_ability.config import KnowledgeBaseParams
from sales_ability.knowledge.fit import fit_knowledge_base
from sales_ability.knowledge.rate import KnowledgeBaseError, load_knowledge_base, save_knowledge_base
from sales_ability.knowledge.validation import plot_trait_distributions
from sales_ability.registry.tracking import log_files, stage_run


def run_fit_thresholds(manifest_file: Path, kb_file: Path, figure_file: Path, params: KnowledgeBaseParams) -> int:
    """Fit, save and plot; returns the number of training clips the thresholds came from."""
    import mlflow

    manifest = pd.read_csv(manifest_file, dtype={"clip_id": str, "split": str})
    train = manifest[manifest["split"] == "train"]
    kb = fit_knowledge_base(train, dict(params.directions), list(params.distributions),
                            source=f"{manifest_file} (train split)")
    kb["map_predictions"] = params.map_predictions  # stored with the thresholds, so with every model they serve
    if params.profile:  # adopted by a person: scores with it from now on, and reaches applicants only through promotion
        adopted = load_knowledge_base(params.profile)
        if adopted["knowledge_base"] != "profile":
            raise KnowledgeBaseError(f"{params.profile}: not a role profile (sales-ability validate writes them)")
        kb = {**kb, "knowledge_base": "profile", "profile": adopted["profile"]}
    save_knowledge_base(kb, kb_file)
    figure = plot_trait_distributions(train, kb, figure_file)
    with stage_run("fit_thresholds", params={"training_clips": len(train), **params.model_dump()}):
        mlflow.log_input(mlflow.data.from_pandas(train.reset_index(drop=True), source=str(manifest_file),
                                                 name=f"{Path(manifest_file).stem}/train"), context="training")
        for trait, entry in kb["traits"].items():
            mlflow.log_metrics({f"{trait}.ks_statistic": entry["distribution"]["ks_statistic"],
                                f"{trait}.aic": entry["distribution"]["aic"]})
            mlflow.set_tag(f"{trait}.distribution", entry["distribution"]["name"])
        log_files([Path(kb_file), figure], artifact_path="knowledge_base")
    return len(train)
