"""A bias audit per applicant, in the format NYC Local Law 144 asks of a tool that outputs a score.

Per category of sex, of race/ethnicity and of their intersection: the number of applicants, the **scoring
rate** (the share whose sales score is above the median of the whole sample) and the **impact ratio** (that
rate divided by the highest rate among the dimension's known categories). Each rate carries its exact 95%
(Clopper-Pearson) interval over the category's applicants. Applicants who did not say are
counted as ``unknown`` (reported, not part of any impact ratio); a category under 2 % of the sample is
reported and marked ``small`` (its ratio is shown, but it cannot be the reference). Always per applicant,
never per clip.

The categories are self-reported for the audit only (the screening website asks after the answers,
optionally) and are kept apart from everything the model sees: they never enter a manifest, face tensors
or the model's input.
"""

from __future__ import annotations

import pandas as pd

from sales_ability.knowledge.intervals import clopper_pearson
from sales_ability.plotting import pyplot, save_figure

UNKNOWN = "unknown"
SEX_CATEGORIES: tuple[str, ...] = ("female", "male")
# The EEO-1 race/ethnicity categories (as LL144's rules use them)
RACE_CATEGORIES: tuple[str, ...] = (
    "hispanic_or_latino", "white", "black_or_african_american", "native_hawaiian_or_other_pacific_islander",
    "asian", "american_indian_or_alaska_native", "two_or_more_races",
)
NOT_SAID = "prefer_not_to_say"
SMALL_SHARE = 0.02
AUDIT_COLUMNS: tuple[str, ...] = ("dimension", "category", "applicants", "share", "scoring_rate", "impact_ratio", "small",
                                  "unknown", "scoring_rate_ci95_low", "scoring_rate_ci95_high")


SELF_REPORT_FILE = "self_report.json"  # beside a collected participant's answers in the demo's dataset


def read_self_reports(folder) -> pd.DataFrame:
    """``participant_id, sex, race_ethnicity`` from each ``<participant>/self_report.json`` under ``folder``
    (the demo's synthetic categories; the screening website keeps real ones in the results database)."""
    import json
    from pathlib import Path

    rows = []
    for path in sorted(Path(folder).glob(f"*/{SELF_REPORT_FILE}")):
        report = json.loads(path.read_text())
        rows.append({"participant_id": path.parent.name, "sex": report.get("sex"), "race_ethnicity": report.get("race_ethnicity")})
    return pd.DataFrame(rows, columns=["participant_id", "sex", "race_ethnicity"])


def lowest_impact_ratios(table: pd.DataFrame) -> dict:
    """Per dimension: the lowest impact ratio, the categories below four-fifths, and the unknown count."""
    out = {}
    for dimension, part in table.groupby("dimension", sort=False):
        known = part.dropna(subset=["impact_ratio"])
        out[dimension] = {"lowest_impact_ratio": None if known.empty else float(known["impact_ratio"].min()),
                          "below_four_fifths": sorted(known.loc[known["impact_ratio"] < 0.8, "category"]),
                          "unknown": int(part.loc[part["unknown"], "applicants"].sum())}
    return out


def _category(value, known: tuple[str, ...]) -> str:
    return value if isinstance(value, str) and value in known else UNKNOWN


def with_categories(applicants: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``sex`` and ``race_ethnicity`` as audit categories: a known one, else ``unknown`` (not said,
    missing, or a column the sample lacks)."""
    frame = applicants.copy()
    for column, known in (("sex", SEX_CATEGORIES), ("race_ethnicity", RACE_CATEGORIES)):
        values = frame[column] if column in frame else pd.Series(None, index=frame.index, dtype=object)
        frame[column] = values.map(lambda v, known=known: _category(v, known))
    return frame


def bias_audit(applicants: pd.DataFrame, selected: str | None = None) -> pd.DataFrame:
    """The LL144 table of ``applicants`` (one row each: ``sales_score``, ``sex``, ``race_ethnicity``).

    ``selected`` names a boolean column (a person's decision to advance): its share is then the rate, LL144's
    **selection rate** form (the columns keep their names; the caller says which form it shows)."""
    frame = with_categories(applicants)
    frame["intersection"] = [UNKNOWN if UNKNOWN in (s, r) else f"{s} x {r}" for s, r in zip(frame["sex"], frame["race_ethnicity"], strict=True)]
    median = float(frame["sales_score"].median()) if len(frame) else float("nan")
    frame["above"] = frame[selected].astype(bool) if selected else frame["sales_score"] > median
    rows = []
    for dimension in ("sex", "race_ethnicity", "intersection"):
        part = []
        for category, group in frame.groupby(dimension, sort=True):
            low, high = clopper_pearson(int(group["above"].sum()), len(group))  # a rate of a few people is a guess
            part.append({"dimension": dimension, "category": category, "applicants": int(len(group)),
                         "share": round(len(group) / len(frame), 4), "scoring_rate": round(float(group["above"].mean()), 4),
                         "small": len(group) / len(frame) < SMALL_SHARE, "unknown": category == UNKNOWN,
                         "scoring_rate_ci95_low": low, "scoring_rate_ci95_high": high})
        reference = max((r["scoring_rate"] for r in part if not r["unknown"] and not r["small"]), default=0.0)
        for r in part:
            r["impact_ratio"] = None if r["unknown"] or reference == 0 else round(r["scoring_rate"] / reference, 4)
        rows += sorted(part, key=lambda r: (r["unknown"], r["category"]))
    table = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    table.attrs["median"] = median
    return table


def score_distribution_figure(applicants: pd.DataFrame, path) -> None:
    """Box plots of the sales score per sex and per race/ethnicity category (PNG)."""
    plt = pyplot()
    frame = with_categories(applicants)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 3]})
    median = frame["sales_score"].median()
    for ax, dimension in zip(axes, ("sex", "race_ethnicity"), strict=True):
        groups = sorted(frame[dimension].unique(), key=lambda c: (c == UNKNOWN, c))
        ax.boxplot([frame.loc[frame[dimension] == g, "sales_score"] for g in groups], tick_labels=[
            f"{g}\n(n={int((frame[dimension] == g).sum())})" for g in groups])
        ax.axhline(median, color="grey", lw=0.8, ls="--", label=f"sample median {median:.1f}")
        ax.set_ylabel("sales score")
        ax.set_title(f"sales score by {dimension.replace('_', '/')}")
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
