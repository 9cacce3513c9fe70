"""Oversight figures from the decisions people recorded: LL144's selection-rate form per requisition, and how
often decisions go against the score band (advanced from below the median, rejected from above it) or were taken
without playing an answer. Each rate carries its n and an exact 95% interval.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from sales_ability.knowledge.audit import bias_audit
from sales_ability.knowledge.intervals import clopper_pearson
from sales_ability.results import store as db


def decided(url: str, requisition_id: str | None = None) -> pd.DataFrame:
    """Each applicant's latest decision (per requisition), with the self-report for the audit."""
    query = select(db.decisions, db.self_reports.c.sex, db.self_reports.c.race_ethnicity).outerjoin(
        db.self_reports, db.self_reports.c.applicant_id == db.decisions.c.applicant_id)
    if requisition_id:
        query = query.where(db.decisions.c.requisition_id == requisition_id)
    with db.engine(url).connect() as conn:
        result = conn.execute(query.order_by(db.decisions.c.id))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if frame.empty:
        return frame
    # an erased applicant's decision keeps its figures under its own row id (no id left to group by)
    frame["person"] = frame["applicant_id"].fillna("erased#" + frame["id"].astype(str))
    return frame.drop_duplicates(["requisition_id", "person"], keep="last").reset_index(drop=True)


def _rate(hits: int, n: int) -> dict:
    low, high = clopper_pearson(hits, n)
    return {"n": n, "count": hits, "rate": hits / n if n else None, "ci95": [low, high]}


def oversight(url: str, requisition_id: str | None = None) -> dict:
    """Per requisition: decisions, selection rate, against-band and unwatched rates, and the LL144 table of
    selection rates (``selection_audit``; self-reported categories, unknown counted apart)."""
    frame = decided(url, requisition_id)
    out: dict = {"requisitions": {}}
    if frame.empty:
        return out
    frame["selected"] = frame["decision"] == "advance"
    frame["against_band"] = ((frame["decision"] == "advance") & (frame["band"] == "below")) | \
                            ((frame["decision"] == "reject") & (frame["band"] == "above"))
    for req, part in frame.groupby("requisition_id", sort=True):
        table = bias_audit(part, selected="selected").rename(columns=lambda c: c.replace("scoring_rate", "selection_rate"))
        out["requisitions"][req] = {
            "decisions": int(len(part)), "by_decision": {k: int(v) for k, v in part["decision"].value_counts().items()},
            "selection": _rate(int(part["selected"].sum()), len(part)),
            "against_band": _rate(int(part["against_band"].sum()), len(part)),
            "unwatched": _rate(int(part["unwatched"].sum()), len(part)),
            "selection_audit": json_rows(table),
        }
    return out


def json_rows(table: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()} for row in table.to_dict("records")]


def log_oversight(figures: dict, experiment: str = "sales-ability-oversight") -> str:
    """Log the aggregates (no applicant ids) as one MLflow run; returns its id."""
    import mlflow

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="review-oversight") as run:
        for req, f in figures["requisitions"].items():
            mlflow.log_metrics({f"{req}.decisions": f["decisions"],
                                **{f"{req}.{k}_rate": f[k]["rate"] for k in ("selection", "against_band", "unwatched")}})
        mlflow.log_dict(figures, "oversight.json")
        return run.info.run_id
