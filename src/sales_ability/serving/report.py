"""The candidate report a recruiter reads: ranked by sales score, per-trait bars, the faces the model saw,
rejected videos, caveat. One self-contained HTML file (face strips are embedded PNGs)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pandas as pd
from jinja2 import Environment, select_autoescape

from sales_ability.traits import TRAITS

CAVEAT = (
    "The sales score estimates apparent personality from the face in a short clip. It supports a human "
    "decision and never replaces it: no candidate is rejected on this score alone. Read the clip, talk to "
    "the person, and treat a low score as a prompt to look closer, not as a verdict."
)

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Candidate report — sales-ability</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; max-width: 70rem; }
 .caveat { background: #fff4e5; border-left: 4px solid #f0a020; padding: .8rem 1rem; margin: 1rem 0 2rem; }
 table { border-collapse: collapse; width: 100%; }
 th, td { padding: .4rem .6rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: middle; }
 th { background: #f3f3f3; }
 .score { font-size: 1.3rem; font-weight: 600; }
 .bar { display: inline-block; height: .7rem; background: #3f7cac; border-radius: 2px; }
 .bars { table-layout: fixed; width: 30rem; }
 .bars td { border: none; padding: .05rem .3rem; font-size: .8rem; }
 .bars td:first-child { width: 9rem; } .bars td:nth-child(2) { width: 9rem; }
 .muted { color: #666; font-size: .85rem; }
 .strip { display: block; height: 48px; image-rendering: pixelated; border-radius: 3px; }
 .low { color: #a33; font-weight: 600; }
</style>
</head>
<body>
<h1>Candidate report</h1>
<p class="muted">{{ n }} candidates scored · model {{ model }} · knowledge base {{ kb }} · {{ when }}</p>
<div class="caveat" role="note"><strong>Decision support, not a decision.</strong> {{ caveat }}</div>
<table>
<caption class="muted">Candidates ranked by sales score (1..10, the mean of the five trait scores).</caption>
<thead><tr><th scope="col">#</th><th scope="col">Candidate clip</th><th scope="col">Faces the model saw</th><th scope="col">Sales score</th><th scope="col">Trait scores (1..10) and estimated traits</th></tr></thead>
<tbody>
{% for row in rows %}
<tr>
 <td>{{ loop.index }}</td>
 <td>{{ row.clip_id }}<br><span class="muted">{{ row.source }}</span></td>
 <td>{% if row.strip %}<img class="strip" src="data:image/png;base64,{{ row.strip }}" alt="evenly spaced face crops from {{ row.clip_id }}">{% else %}<span class="muted">no crops stored</span>{% endif %}
  {% if row.face_share is not none %}<span class="{{ 'low' if row.face_share < 0.8 else 'muted' }}">face found in {{ "%.0f"|format(row.face_share * 100) }}% of frames</span>{% endif %}</td>
 <td class="score">{{ "%.1f"|format(row.sales_score) }}</td>
 <td><table class="bars">
 {% for t in traits %}
  <tr><td>{{ t }}</td><td><span class="bar" style="width: {{ (row['score_' + t] * 12)|int }}px" aria-hidden="true"></span> {{ row['score_' + t] }}</td>
      <td class="muted">{{ "%.2f"|format(row[t]) }} ({{ directions[t] }})</td></tr>
 {% endfor %}
 </table></td>
</tr>
{% endfor %}
</tbody>
</table>
{% if rejects %}
<h2>Videos that could not be scored</h2>
<table>
<thead><tr><th scope="col">Video</th><th scope="col">Reason</th></tr></thead>
<tbody>
{% for r in rejects %}<tr><td>{{ r.source }}</td><td>{{ r.reason }}</td></tr>{% endfor %}
</tbody>
</table>
{% endif %}
</body>
</html>
"""


def render_report(results: pd.DataFrame, rejects: pd.DataFrame, kb: dict, model: str,
                  strips: dict[str, bytes] | None = None) -> str:
    """HTML (escaped) of the ranked candidates and the rejected videos.

    Args:
        strips: content sha256 -> PNG of face crops (see ``scoring.face_strips``), shown beside each candidate.
    """
    env = Environment(autoescape=select_autoescape(default=True))
    ranked = results.sort_values("sales_score", ascending=False)
    rows = ranked.to_dict("records")
    for row in rows:
        png = (strips or {}).get(row.get("content_sha256"))
        row["strip"] = base64.b64encode(png).decode() if png else None
        share = row.get("face_share")
        row["face_share"] = None if pd.isna(share) else float(share)
    return env.from_string(_TEMPLATE).render(
        rows=rows, rejects=rejects.to_dict("records"), traits=TRAITS,
        directions={t: kb["traits"][t]["direction"] for t in TRAITS}, n=len(ranked), model=model,
        kb=kb.get("knowledge_base", "?"), caveat=CAVEAT, when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
