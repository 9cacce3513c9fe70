"""A validity study's report, the same from the CLI (``outcomes.validate``) and the demo's stage: the HTML a person
reads and the JSON a program reads (``write_study``), the figures an analyst compares (``study_metrics``) and their
MLflow logging (``log_study``)."""

from __future__ import annotations

from pathlib import Path

from sales_ability.io_utils import write_json_atomic, write_text_atomic
from sales_ability.outcomes.study import MIN_PEOPLE
from sales_ability.pages import render_page
from sales_ability.registry.tracking import flatten_metrics, log_files


def write_study(report: dict, out_dir: Path) -> list[Path]:
    """``validity.json`` and ``validity.html`` of a study's report in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "validity.json", report)
    write_text_atomic(out_dir / "validity.html", render_page("validity_report.html", report=report, min_people=MIN_PEOPLE))
    return [out_dir / "validity.json", out_dir / "validity.html"]


def study_metrics(report: dict) -> dict:
    """The figures of a study an analyst compares: per outcome and predictor r, its interval, p, Holm's p and
    power; which outcomes the score is valid for; each profile's decision, held-out r and shapes."""
    return {"people": report["people"], "valid_for": report["valid_for"],
            **{f"{c['outcome']}.{c['predictor']}": {k: c[k] for k in ("r", "ci95_low", "ci95_high", "p", "p_holm", "power")}
               for c in report["correlations"]},
            "profiles": {o: {k: p[k] for k in ("offered", "held_out_r", "default_r", "p_better")} | {
                "shapes": {t: s["shape"] for t, s in p["shapes"].items()}} for o, p in report.get("profiles", {}).items()}}


def log_study(report: dict, files: list[Path]) -> None:
    """Into the active MLflow run: the study's numeric figures, which outcomes it is valid for (a tag), ``files``."""
    import mlflow

    metrics = study_metrics(report)
    mlflow.log_metrics(flatten_metrics({k: v for k, v in metrics.items() if k not in ("valid_for", "profiles")}))
    mlflow.set_tag("valid_for", ",".join(report["valid_for"]) or "none")
    log_files(files, artifact_path="validity")
