"""``sales-ability validate``: the hires' outcomes joined to the scores they had, studied, and written as a
report a person reads (HTML), a file a program reads (JSON) and an MLflow run an analyst compares.

The scores come from one model version only (never two versions' scores in one study): the one given, else
the version that scored the most of the people with outcomes. A person's figures for several periods of one
outcome are averaged (``--period`` keeps one). The applicants' standard deviation of the sales score under
that version is the range-restriction reference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from sales_ability.errors import SalesAbilityError
from sales_ability.outcomes.profiles import profile_report
from sales_ability.outcomes.report import log_study, write_study
from sales_ability.outcomes.study import validation_study
from sales_ability.registry.tracking import stage_run
from sales_ability.traits import TRAITS


class NoOutcomes(SalesAbilityError):
    """Nothing to study: no outcomes (of scored people) in the database for what was asked."""


def study_frame(url: str, model_version: str | None = None, requisition: str | None = None,
                period: str | None = None) -> tuple[pd.DataFrame, list[str], dict]:
    """One row per hired, scored person (sales score, traits, outcomes wide, self-reported groups), the outcome
    names, and what was chosen (model version, people without scores, the applicants' sales-score SD)."""
    from sqlalchemy import select

    from sales_ability.results import store as db

    with db.engine(url).connect() as conn:
        outcomes = pd.DataFrame(conn.execute(select(db.outcomes)).mappings().all())
        scored = pd.DataFrame(conn.execute(select(db.applicants.c.applicant_id, db.applicants.c.model_version,
                                                  db.applicants.c.sales_score, *[db.applicants.c[t] for t in TRAITS])).mappings().all())
        groups = pd.DataFrame(conn.execute(select(db.self_reports.c.applicant_id, db.self_reports.c.sex,
                                                  db.self_reports.c.race_ethnicity)).mappings().all())
    if outcomes.empty:
        raise NoOutcomes("no outcomes in the results database: import them first (sales-ability outcomes import FILE.csv)")
    if requisition:
        outcomes = outcomes[outcomes["requisition"] == requisition]
    if period:
        outcomes = outcomes[outcomes["period"] == period]
    if outcomes.empty:
        raise NoOutcomes(f"no outcomes for requisition {requisition!r}, period {period!r}")
    wide = outcomes.pivot_table(index="applicant_id", columns="outcome", values="value", aggfunc="mean")
    names = sorted(wide.columns)
    if scored.empty:
        raise NoOutcomes("no scored applicants in the results database: nobody's outcome can be tied to a score")
    with_outcome = scored[scored["applicant_id"].isin(wide.index)]
    if model_version is None:
        if with_outcome.empty:
            raise NoOutcomes(f"none of the {len(wide)} people with outcomes was scored")
        model_version = str(with_outcome["model_version"].value_counts().idxmax())
    version = scored[scored["model_version"] == model_version]
    frame = version.drop(columns="model_version").merge(wide.reset_index(), on="applicant_id")
    if not groups.empty:
        frame = frame.merge(groups, on="applicant_id", how="left")
    chosen = {"model_version": model_version, "requisition": requisition, "period": period or "mean over periods",
              "people_with_outcomes": int(len(wide)), "people_not_scored_by_this_version": int(len(wide) - len(frame)),
              "applicants_scored_by_this_version": int(len(version)),
              "applicant_sd": float(version["sales_score"].std(ddof=1)) if len(version) > 1 else None}
    return frame, names, chosen


def run_validation(url: str, out_dir: Path, model_version: str | None = None, requisition: str | None = None,
                   period: str | None = None, effect: float = 0.2, correct_range: bool = False,
                   log_to_mlflow: bool = True, base_kb: dict | None = None) -> dict:
    """Study the database's outcomes and write ``validity.json`` and ``validity.html`` into ``out_dir`` (and an
    MLflow run named ``validate``); with ``base_kb`` (the knowledge base the scores were rated with), each offered
    role profile as ``profile_<outcome>.json`` there too. Raises ``NoOutcomes`` when there is nothing to study."""
    frame, names, chosen = study_frame(url, model_version, requisition, period)
    report = validation_study(frame, names, effect, chosen["applicant_sd"] if correct_range else None)
    report["profiles"] = profile_report(frame, names, base=base_kb, out_dir=out_dir,
                                        label=requisition or f"model version {chosen['model_version']}")
    report = {"chosen": chosen, **report, "written": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    files = write_study(report, out_dir)
    if log_to_mlflow:
        with stage_run("validate", tags={"model_version": chosen["model_version"]}, pipeline=False):
            log_study(report, files)
    return report
