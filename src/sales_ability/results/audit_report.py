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
from jinja2 import Environment, select_autoescape

from sales_ability.io_utils import write_csv_atomic, write_text_atomic
from sales_ability.knowledge.audit import bias_audit, score_distribution_figure

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bias audit — sales-ability</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #1b1b1b; }
 table { border-collapse: collapse; margin: .5rem 0 1.5rem; } th, td { padding: .3rem .7rem; border-bottom: 1px solid #ddd; text-align: right; }
 th:first-child, td:first-child { text-align: left; } th { background: #f3f3f3; }
 .flag { color: #a33; font-weight: 600; } .muted { color: #666; } .note { background: #eef4fb; padding: .7rem 1rem; }
 img { max-width: 100%; }
</style></head><body>
<h1>Bias audit of the sales score</h1>
<p class="muted">{{ n }} applicants · data: {{ source }}{% if first %} · scored {{ first }} to {{ last }}{% endif %}{% if versions %} · model versions {{ versions }}{% endif %} · written {{ when }}</p>
{% if few %}<p class="flag">{{ few }} categories hold fewer than {{ min_n }} applicants: their rates and ratios rest on a handful
of people and say little; an audit needs a larger sample.</p>{% endif %}
<div class="note">Per New York City Local Law 144 for a tool that outputs a score: the <strong>scoring rate</strong> of a
category is the share of its applicants whose sales score is above the median of the whole sample ({{ "%.2f"|format(median) }});
the <strong>impact ratio</strong> is that rate divided by the highest rate among the dimension's categories. Applicants
who did not say are counted as <em>unknown</em> and are not part of any ratio. A category under 2 % of the sample is
marked <em>small</em>: its ratio is shown but it is never the reference. Categories are self-reported, optional, and
kept apart from everything the model sees. The score supports a human decision and never replaces it.</div>
{% for dimension, rows in tables %}
<h2>{{ dimension }}</h2>
<table><thead><tr><th>category</th><th>applicants</th><th>share</th><th>scoring rate</th><th>impact ratio</th><th></th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.category }}</td><td>{{ r.applicants }}</td><td>{{ "%.1f"|format(100 * r.share) }} %</td>
<td>{{ "%.3f"|format(r.scoring_rate) }}</td><td>{{ "—" if r.impact_ratio is none else "%.3f"|format(r.impact_ratio) }}</td>
<td>{% if r.unknown %}<span class="muted">unknown: not in the ratios</span>{% elif r.small %}<span class="muted">small (&lt; 2 %)</span>{% elif r.impact_ratio is not none and r.impact_ratio < 0.8 %}<span class="flag">below four-fifths</span>{% endif %}</td></tr>
{% endfor %}</tbody></table>
{% endfor %}
<h2>Sales score per category</h2>
<img src="data:image/png;base64,{{ figure }}" alt="box plots of the sales score per sex and per race/ethnicity category">
<h2>Model</h2>
<pre>{{ card }}</pre>
</body></html>
"""


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
    html = Environment(autoescape=select_autoescape(default=True)).from_string(_TEMPLATE).render(
        n=len(applicants), source=source, first=dates.min() if len(dates) else None, last=dates.max() if len(dates) else None,
        versions=", ".join(versions), few=int(((table["applicants"] < MIN_MEANINGFUL) & ~table["unknown"]).sum()),
        min_n=MIN_MEANINGFUL, when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        median=table.attrs.get("median", float("nan")), figure=png, card=card,
        tables=[(d.replace("_", "/"), _rows(table[table["dimension"] == d])) for d in ("sex", "race_ethnicity", "intersection")],
    )
    write_text_atomic(out_dir / "audit.html", html)
    return table
