"""The candidate report a recruiter reads: applicants ranked by sales score with its interval, per-trait
scores, and beneath each applicant the segments of their answers with the faces the model saw; rejected
videos; caveat. One self-contained HTML file (face strips are embedded PNGs)."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime

import pandas as pd
from jinja2 import Environment, select_autoescape

from sales_ability.traits import TRAITS

CAVEAT = (
    "The sales score estimates apparent personality from the face in a short clip. It supports a human "
    "decision and never replaces it: no candidate is rejected on this score alone. Read the clip, talk to "
    "the person, and treat a low score as a prompt to look closer, not as a verdict."
)
LIMITS = (
    "The model estimates apparent Big Five traits from 60 face crops per 15 s segment and a knowledge base turns "
    "them into 1..10 scores; labels are apparent traits (crowd raters, or the applicants' own questionnaires), "
    "First Impressions' neuroticism label behaves as emotional stability, and the tool sees faces only: no audio, "
    "no words. Lighting, camera and demographics shift the estimates; see the bias audit (sales-ability audit). "
    "An applicant may ask for an assessment without this tool."
)
INTERVAL_NOTE = (
    "Each score comes with its interval (e.g. 6.8 (5.9-7.6)): calibrated on held-out people so that about "
    "{coverage} of true scores fall inside. Two applicants whose intervals overlap are not told apart by this tool."
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
 tr.applicant td { border-bottom: none; }
 .segs { width: auto; margin: 0 0 1rem; } .segs td, .segs th { font-size: .85rem; padding: .2rem .5rem; }
</style>
</head>
<body>
<h1>Candidate report</h1>
<p class="muted">{{ n_applicants }} applicants scored ({{ n_segments }} segments of {{ n_answers }} answers) · model {{ model }} · knowledge base {{ kb }} · {{ when }}</p>
<div class="caveat" role="note"><strong>Decision support, not a decision.</strong> {{ caveat }}<br>{{ interval_note }}</div>
<table>
<caption class="muted">Applicants ranked by sales score (1..10, from the five trait scores of their traits averaged over all their segments), with its interval.</caption>
<thead><tr><th scope="col">#</th><th scope="col">Applicant</th><th scope="col">Sales score</th><th scope="col">Trait scores (1..10) with intervals, and estimated traits</th></tr></thead>
<tbody>
{% for a in applicants %}
{% if versions|length > 1 and (loop.first or a.model_version != applicants[loop.index0 - 1].model_version) %}
<tr class="version"><th colspan="4" scope="rowgroup">Model version {{ a.model_version }}: ranked among themselves only (never against another version's scores)</th></tr>
{% endif %}
<tr class="applicant">
 <td>{{ a.rank }}</td>
 <td><strong>{{ a.applicant_id }}</strong><br><span class="muted">{{ a.answers }} answers, {{ a.segments }} segments</span>
  {% if a.face_share is not none %}<br><span class="{{ 'low' if a.face_share < 0.8 else 'muted' }}">face found in {{ "%.0f"|format(a.face_share * 100) }}% of frames</span>{% endif %}</td>
 <td class="score">{{ a.sales_text }}</td>
 <td><table class="bars">
 {% for t in traits %}
  <tr><td>{{ t }}</td><td><span class="bar" style="width: {{ (a['score_' + t] * 12)|int }}px" aria-hidden="true"></span> {{ a['score_' + t] }} <span class="muted">({{ a['score_' + t + '_low'] }}-{{ a['score_' + t + '_high'] }})</span></td>
      <td class="muted">{{ "%.2f"|format(a[t]) }} ({{ directions[t] }})</td></tr>
 {% endfor %}
 </table></td>
</tr>
<tr class="segments"><td></td><td colspan="3">
 <table class="segs"><thead><tr><th scope="col">Answer segment</th><th scope="col">Faces the model saw</th><th scope="col">Segment score</th></tr></thead><tbody>
 {% for seg in a.segment_rows %}
  <tr><td>{{ seg.clip_id }}<br><span class="muted">{{ seg.source_name }} {{ seg.span }}</span></td>
   <td>{% if seg.strip %}<img class="strip" src="data:image/png;base64,{{ seg.strip }}" alt="evenly spaced face crops from {{ seg.clip_id }}">{% elif seg.capped %}<span class="muted">not shown (at most {{ strips_per_applicant }} strips per applicant)</span>{% else %}<span class="muted">no crops stored</span>{% endif %}
    {% if seg.face_share is not none %}<span class="{{ 'low' if seg.face_share < 0.8 else 'muted' }}">face in {{ "%.0f"|format(seg.face_share * 100) }}%</span>{% endif %}</td>
   <td>{{ seg.sales_text }}</td></tr>
 {% endfor %}
 </tbody></table>
</td></tr>
{% endfor %}
</tbody>
</table>
<h2>What the score rests on, and its limits</h2>
<p class="muted">{{ limits }}</p>
{% if card %}<details><summary>The model card of this version</summary><pre>{{ card }}</pre></details>{% endif %}
{% if rejects %}
<h2>Videos that could not be scored</h2>
<table>
<thead><tr><th scope="col">Video</th><th scope="col">Segment</th><th scope="col">Reason</th></tr></thead>
<tbody>
{% for r in rejects %}<tr><td>{{ r.source }}</td><td>{{ r.clip_id }}</td><td>{{ r.reason }}</td></tr>{% endfor %}
</tbody>
</table>
{% endif %}
</body>
</html>
"""


def interval_text(value: float, low: float, high: float) -> str:
    """``6.8 (5.9-7.6)``; the bare value when there is no interval."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (low, high)):
        return f"{value:.1f}"
    return f"{value:.1f} ({low:.1f}-{high:.1f})"


STRIPS_PER_APPLICANT = 12  # a report's size is bounded per applicant, however many segments they have


def render_report(applicants: pd.DataFrame, segments: pd.DataFrame, rejects: pd.DataFrame, kb: dict, model: str,
                  strips: dict[str, bytes] | None = None, coverage: float | None = 0.9, card: str | None = None) -> str:
    """HTML (escaped) of the ranked applicants, their segments and the rejected videos.

    Args:
        strips: clip id -> PNG of face crops (see ``scoring.face_strips``), shown beside each segment.
    """
    from pathlib import Path

    env = Environment(autoescape=select_autoescape(default=True))
    by_applicant: dict[str, list[dict]] = {}
    for seg in segments.sort_values(["applicant_id", "clip_id"]).to_dict("records"):
        capped = len(by_applicant.get(str(seg.get("applicant_id")), [])) >= STRIPS_PER_APPLICANT
        png = None if capped else (strips or {}).get(seg.get("clip_id"))
        share = seg.get("face_share")
        start, end = seg.get("start_s"), seg.get("end_s")
        span = "" if pd.isna(start) or pd.isna(end) else f"{start:.0f}-{end:.0f} s"
        by_applicant.setdefault(str(seg.get("applicant_id")), []).append({
            "clip_id": seg["clip_id"], "source_name": Path(str(seg.get("source", ""))).name, "span": span,
            "strip": base64.b64encode(png).decode() if png else None, "capped": capped,
            "face_share": None if pd.isna(share) else float(share),
            "sales_text": interval_text(seg["sales_score"], seg.get("sales_score_low"), seg.get("sales_score_high")),
        })
    # applicants scored by different model versions are never ranked together: a rank counts within one version
    ranked = applicants.assign(model_version=applicants.get("model_version", pd.Series("", index=applicants.index)).astype(str))
    rows = ranked.sort_values(["model_version", "sales_score", "applicant_id"], ascending=[True, False, True]).to_dict("records")
    ranks: dict[str, int] = {}
    for row in rows:
        ranks[row["model_version"]] = row["rank"] = ranks.get(row["model_version"], 0) + 1
        row["segment_rows"] = by_applicant.get(str(row["applicant_id"]), [])
        row["sales_text"] = interval_text(row["sales_score"], row.get("sales_score_low"), row.get("sales_score_high"))
        share = row.get("face_share")
        row["face_share"] = None if pd.isna(share) else float(share)
    share = "90%" if coverage is None else f"{coverage:.0%}"
    return env.from_string(_TEMPLATE).render(
        applicants=rows, rejects=rejects.to_dict("records"), traits=TRAITS,
        directions={t: kb["traits"][t]["direction"] for t in TRAITS}, n_applicants=len(rows),
        n_segments=len(segments), n_answers=int(segments["source"].nunique()) if len(segments) else 0, model=model,
        kb=kb.get("knowledge_base", "?"), caveat=CAVEAT, interval_note=INTERVAL_NOTE.format(coverage=share), card=card,
        limits=LIMITS, strips_per_applicant=STRIPS_PER_APPLICANT, versions=sorted(ranks),
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
