"""Retake ``docs/candidate_report.png`` from today's template (``make docs-screenshot``, after ``make demo``).

The demo's first test applicants, with their segments, face strips, intervals and the model's reliability,
are rendered by the same ``render_report`` the batch and ``sales-ability score`` use, and headless Chromium
takes the picture, so the screenshot in the docs is never older than the template.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from sales_ability.knowledge.intervals import fit_intervals, with_intervals
from sales_ability.knowledge.rate import load_knowledge_base, rate
from sales_ability.model.calibration import read_calibration
from sales_ability.serving.run_report import render_report
from sales_ability.serving.scoring import face_strips


def main(out: Path = Path("docs/candidate_report.png"), people: int = 3) -> Path:
    kb = load_knowledge_base("models/knowledge_base.json")
    intervals = fit_intervals(read_calibration("models/finetune"), kb, 0.9)
    applicants = pd.read_csv("reports/applicants_test.csv", dtype={"applicant_id": str}).head(people)
    segments = pd.read_csv("reports/predictions_test.csv", dtype={"clip_id": str, "participant_id": str})
    segments = segments[segments["participant_id"].isin(applicants["applicant_id"])].drop(
        columns=[c for c in segments if c.endswith(("_low", "_high"))])
    segments = with_intervals(rate(segments, kb)[0], kb, intervals.segment_half_widths())
    segments["applicant_id"] = segments["participant_id"]
    strips = face_strips(Path("data/faces/finetune"))
    pngs = dict(zip(strips["clip_id"], strips["strip_png"], strict=True))
    html = render_report(applicants.assign(model_version="demo"), segments, pd.DataFrame(columns=["source", "clip_id", "reason"]),
                         kb, "models/finetune (the demo's candidate)", pngs, reliability=intervals.reliability)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html)
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={out.resolve()}", "--window-size=1200,1500", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {out} ({len(applicants)} test applicants, {len(segments)} segments)")
    return out


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:2]))
