"""Applicants, not files: one row per person from the segments of all their answers.

An applicant's five traits are the **mean over their segments** (every segment weighs the same: each is 15 s
of the person at the training's frame density; a longer answer has more segments and counts more). The
mean traits are then rated like any segment (1..10 per trait, sales score), with the model version's
person-level conformal half-widths (``sales_ability.knowledge.intervals``: calibrated on calibration
people, each reduced to the mean of their segments) around them.
"""

from __future__ import annotations

import pandas as pd

from sales_ability.knowledge.intervals import Intervals, person_table, with_intervals
from sales_ability.knowledge.rate import rate
from sales_ability.knowledge.reliability import half_differences
from sales_ability.traits import TRAITS

APPLICANT_COLUMNS: tuple[str, ...] = (
    "applicant_id", "answers", "segments", "face_share", *TRAITS,
    *(f"{t}_{end}" for t in TRAITS for end in ("low", "high")),
    *(f"score_{t}" for t in TRAITS), *(f"score_{t}_{end}" for t in TRAITS for end in ("low", "high")),
    "sales_score", "sales_score_low", "sales_score_high", "answers_disagree",
)


def aggregate_applicants(segments: pd.DataFrame) -> pd.DataFrame:
    """One row per ``participant_id``: ``applicant_id``, ``answers`` (recordings), ``segments``, the mean
    ``face_share`` and the mean of each trait (and of ``true_<trait>``, ``interview`` and the split and group
    columns' first value, when present)."""
    if segments.empty:
        return pd.DataFrame(columns=["applicant_id", "answers", "segments", "face_share", *TRAITS])
    grouped = segments.groupby(segments["participant_id"].astype(str), sort=True)
    out = pd.DataFrame({"answers": grouped["source"].nunique(), "segments": grouped.size()})
    out["face_share"] = grouped["face_share"].mean().round(4) if "face_share" in segments else float("nan")
    means = [c for c in (*TRAITS, *(f"true_{t}" for t in TRAITS), "interview") if c in segments]
    out[means] = grouped[means].mean()
    for column in ("split", "gender", "age_band"):
        if column in segments:
            out[column] = grouped[column].first()
    return out.rename_axis("applicant_id").reset_index()


def rate_applicants(segments: pd.DataFrame, kb: dict, intervals: Intervals) -> pd.DataFrame:
    """The applicants of ``segments``, rated under ``kb``, with intervals, best sales score first."""
    applicants = aggregate_applicants(segments)
    if applicants.empty:
        return applicants.reindex(columns=list(APPLICANT_COLUMNS))
    rated, _ = rate(applicants, kb, id_column="applicant_id")  # mean traits of valid segments are valid
    halves = intervals.applicant_half_widths(person_table(segments, kb)).reindex(rated["applicant_id"].astype(str))
    rated = with_intervals(rated, kb, {k: halves[k].to_numpy() for k in halves})  # calibrated on people
    apart = half_differences(segments, kb).abs().reindex(rated["applicant_id"].astype(str)).to_numpy()
    flags = pd.array([None if d != d or intervals.disagreement == float("inf") else bool(d > intervals.disagreement)
                      for d in apart], dtype="boolean")
    rated["answers_disagree"] = flags
    return rated.sort_values(["sales_score", "applicant_id"], ascending=[False, True], ignore_index=True)
