"""The validate_outcomes stage: the demo's hires scored by the fine-tuned model, their planted outcomes
(``outcomes.demo``), the validity study and the role profiles, written as the report a company would get."""

from __future__ import annotations

from pathlib import Path

from sales_ability.io_utils import write_json_atomic
from sales_ability.knowledge.applicants import rate_applicants
from sales_ability.knowledge.audit import read_self_reports
from sales_ability.knowledge.intervals import fit_intervals
from sales_ability.knowledge.quantile_map import map_traits
from sales_ability.knowledge.rate import load_knowledge_base
from sales_ability.model.calibration import read_calibration
from sales_ability.outcomes.demo import plant_outcomes
from sales_ability.registry.tracking import stage_run

OUTCOMES = ["quota", "noise_outcome"]


def run_validate_outcomes(model_dir: Path, labelled_file: Path, kb_file: Path, raw_dir: Path, out_dir: Path,
                          metrics_file: Path, seed: int, coverage: float) -> dict:
    """Score every demo hire (all of phase 2's people, each the mean of their segments), plant their outcomes,
    and study whether the sales score predicts them, per sex and race/ethnicity too (the demo's self-reports in
    ``raw_dir``); write ``validity.json``/``.html`` and the metrics.

    The segments' traits are the fine-tuned model's own outputs that the evaluate stage wrote (``labelled_file``,
    every labelled segment), mapped with ``model_dir``'s calibration: no second load of the model."""
    import pandas as pd

    from sales_ability.outcomes.profiles import profile_report
    from sales_ability.outcomes.study import validation_study
    from sales_ability.outcomes.report import log_study, study_metrics, write_study

    kb = load_knowledge_base(kb_file)
    calibration = read_calibration(model_dir)
    segments = map_traits(pd.read_parquet(labelled_file), kb, calibration)
    hires = plant_outcomes(rate_applicants(segments, kb, fit_intervals(calibration, kb, coverage)), seed)
    groups = read_self_reports(raw_dir).rename(columns={"participant_id": "applicant_id"})
    hires = hires.merge(groups, on="applicant_id", how="left")
    trained_on = int((hires["split"] == "train").sum())
    report = validation_study(hires, OUTCOMES)
    report["profiles"] = profile_report(hires, OUTCOMES, base=kb, out_dir=out_dir, label="demo")  # offered ones as files
    report["chosen"] = {"model_version": str(model_dir), "requisition": "demo", "period": "planted",
                        "people_with_outcomes": int(len(hires)), "people_not_scored_by_this_version": 0,
                        "note": (f"demo: outcomes planted (quota: extraversion up, conscientiousness best at 0.5, openness "
                                 f"irrelevant; noise_outcome: pure noise); {trained_on} of the {len(hires)} people were in "
                                 "the model's training split, so its scores of them are closer to their labels than a "
                                 "new hire's would be")}
    report["written"] = "by dvc repro (validate_outcomes)"
    files = write_study(report, out_dir)
    write_json_atomic(metrics_file, {"validity": study_metrics(report)})
    with stage_run("validate_outcomes"):
        log_study(report, [*files, metrics_file])
    return report
