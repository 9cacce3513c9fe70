"""``audit.csv`` and ``audit.html``: the bias audit of a selection of scored applicants, for an auditor.

The HTML holds the LL144 table per dimension (applicants, scoring rate, impact ratio; unknown counted, small
categories marked), the score distribution per category, where the data came from and over which dates,
and the model version with its card's summary.
"""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from sales_ability.io_utils import write_csv_atomic, write_text_atomic
from sales_ability.knowledge.audit import bias_audit, score_distribution_figure
from sales_ability.pages import render_page



MIN_MEANINGFUL = 30  # applicants under which a category's rate is flagged as resting on too few people


def _rows(part: pd.DataFrame) -> list[dict]:
    rows = part.to_dict("records")
    for row in rows:  # a ratio that is not computed (unknown) is None, not NaN
        row["impact_ratio"] = None if pd.isna(row["impact_ratio"]) else row["impact_ratio"]
    return rows


def write_audit(applicants: pd.DataFrame, out_dir: str | Path, source: str, card: str) -> pd.DataFrame:
    """Write ``audit.csv`` and ``audit.html`` of ``applicants`` (``sales_score``, ``sex``, ``race_ethnicity``,
    and ``scored_at``/``model_version`` when known) into ``out_dir``; returns the table."""
    out_dir = Path(out_dir)
    table = bias_audit(applicants)
    write_csv_atomic(out_dir / "audit.csv", table)
    with tempfile.TemporaryDirectory() as tmp:
        figure = Path(tmp) / "scores.png"
        score_distribution_figure(applicants, figure)
        png = base64.b64encode(figure.read_bytes()).decode()
    dates = applicants["scored_at"].dropna().astype(str) if "scored_at" in applicants else pd.Series(dtype=str)
    versions = sorted({str(v) for v in applicants.get("model_version", pd.Series(dtype=str)).dropna()})
    html = render_page("audit_report.html",
        n=len(applicants), source=source, first=dates.min() if len(dates) else None, last=dates.max() if len(dates) else None,
        versions=", ".join(versions), few=int(((table["applicants"] < MIN_MEANINGFUL) & ~table["unknown"]).sum()),
        min_n=MIN_MEANINGFUL, when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        median=table.attrs.get("median", float("nan")), figure=png, card=card,
        tables=[(d.replace("_", "/"), _rows(table[table["dimension"] == d])) for d in ("sex", "race_ethnicity", "intersection")],
    )
    write_text_atomic(out_dir / "audit.html", html)
    return table
