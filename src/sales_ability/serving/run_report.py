"""The candidate report a recruiter reads: applicants ranked by sales score with its interval, per-trait
scores, and beneath each applicant the segments of their answers with the faces the model saw; rejected
videos; caveat. One self-contained HTML file (face strips are embedded PNGs)."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime

import pandas as pd
from sales_ability.pages import render_page
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



def knowledge_base_name(kb: dict) -> str:
    """What a reader is told the scores were rated with: ``paper``, ``fitted``, or ``role profile <name>``."""
    profile = kb.get("profile")
    return f"role profile {profile['name']}" if profile else str(kb.get("knowledge_base", "?"))


def interval_text(value: float, low: float, high: float) -> str:
    """``6.8 (5.9-7.6)``; the bare value when there is no interval."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (low, high)):
        return f"{value:.1f}"
    return f"{value:.1f} ({low:.1f}-{high:.1f})"


STRIPS_PER_APPLICANT = 12  # a report's size is bounded per applicant, however many segments they have


def reliability_note(reliability: dict | None) -> str:
    """One sentence on how far a sales score holds across an applicant's own answers (empty when unmeasured)."""
    entry = (reliability or {}).get("sales_score") or {}
    if entry.get("value") is None:
        return ""
    spread = (f" [{entry['ci95_low']:.2f}, {entry['ci95_high']:.2f}]" if entry.get("ci95_low") is not None
              else " (too few people for an interval)")
    return (f"Reliability of this model's sales score across one person's answers: {entry['value']:.2f}{spread} "
            f"(split-half, {reliability['people']} held-out people; 0.7 or more is what selection practice asks). "
            "An applicant marked \"answers disagree\" got scores from their odd and even answers further apart than "
            "those people's do at the intervals' coverage: read more than one of their answers.")


def render_report(applicants: pd.DataFrame, segments: pd.DataFrame, rejects: pd.DataFrame, kb: dict, model: str,
                  strips: dict[str, bytes] | None = None, coverage: float | None = 0.9, card: str | None = None,
                  reliability: dict | None = None) -> str:
    """HTML (escaped) of the ranked applicants, their segments and the rejected videos.

    Args:
        strips: clip id -> PNG of face crops (see ``scoring.face_strips``), shown beside each segment.
        reliability: the model's split-half reliability (``Intervals.reliability``), said once above the list.
    """
    from pathlib import Path

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
        row["disagree"] = bool(row.get("answers_disagree")) if not pd.isna(row.get("answers_disagree")) else False
    share = "90%" if coverage is None else f"{coverage:.0%}"
    return render_page("candidate_report.html",
        applicants=rows, rejects=rejects.to_dict("records"), traits=TRAITS,
        directions={t: kb["traits"][t]["direction"] for t in TRAITS}, n_applicants=len(rows),
        n_segments=len(segments), n_answers=int(segments["source"].nunique()) if len(segments) else 0, model=model,
        kb=knowledge_base_name(kb), profile=kb.get("profile"), caveat=CAVEAT, interval_note=INTERVAL_NOTE.format(coverage=share), card=card,
        reliability_note=reliability_note(reliability),
        limits=LIMITS, strips_per_applicant=STRIPS_PER_APPLICANT, versions=sorted(ranks),
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
