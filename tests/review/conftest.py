"""A results database as the batch leaves it, with the review workspace's people and jobs: two requisitions, a
recruiter for each, an auditor; seven applicants scored by model version 3 (one also by version 2), each with two
short WebM answers on disk."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from sales_ability.results import store as db
from sales_ability.review.accounts import create_account
from sales_ability.review.requisitions import assign, create_requisition, record_application
from sales_ability.traits import TRAITS

PASSWORD = "correct horse battery"
# (applicant, requisition, reference, sales score, half-width): three clearly apart, the rest overlapping
APPLICANTS = [("ann_k", "REQ-1", "ATS-101", 8.6, 0.5), ("bob_k", "REQ-1", "ATS-102", 3.0, 0.5),
              ("cyd_k", "REQ-1", "ATS-103", 5.6, 1.4), ("dan_k", "REQ-1", "ATS-104", 5.4, 1.4),
              ("eve_k", "REQ-1", "ATS-105", 5.5, 1.4), ("fay_k", "REQ-1", "ATS-106", 8.4, 0.4),
              ("gus_k", "REQ-2", "ATS-201", 6.0, 1.0)]


def write_webm(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    """A small VP8 WebM (Chromium plays it without proprietary codecs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = np.full((64, 64, 3), (i * 12) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _strip() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 96, 3), 128, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _applicant_row(applicant: str, score: float, half: float, version: str, when: datetime | None = None) -> dict:
    row = {"applicant_id": applicant, "answers": 2, "segments": 4, "face_share": 0.95, "sales_score": score,
           "sales_score_low": score - half, "sales_score_high": score + half, "model_uri": f"models:/sales-ability/{version}",
           "model_version": version, "knowledge_base": "fitted", "scored_at": when or datetime.now(UTC), "batch_run_id": "run-1",
           "answers_disagree": False}
    for t in TRAITS:
        row.update({t: 0.5, f"{t}_low": 0.4, f"{t}_high": 0.6, f"score_{t}": 5, f"score_{t}_low": 4, f"score_{t}_high": 6})
    return row


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with argon2-cffi's parameters for tests (``profiles.CHEAPEST``) in these tests' own process: the
    product's defaults cost 0.14 CPU s a hash, and these tests make about fifty. The product keeps its defaults
    (the CLI processes of test_review_cli.py use them); what is tested is the same: hash, verify, lock-out."""
    from argon2 import PasswordHasher, profiles

    monkeypatch.setattr("sales_ability.review.accounts._hasher", lambda: PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture()
def workspace(tmp_path: Path) -> dict:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    create_account(url, "rita", "recruiter", PASSWORD)
    create_account(url, "otto", "recruiter", PASSWORD)
    create_account(url, "audrey", "auditor", PASSWORD)
    create_requisition(url, "REQ-1", "Field sales, Berlin")
    create_requisition(url, "REQ-2", "Inside sales, Lyon")
    assign(url, "REQ-1", "rita")
    assign(url, "REQ-2", "otto")
    clip = write_webm(tmp_path / "clip.webm")
    rows, videos, segments = [], [], []
    for applicant, requisition, reference, score, half in APPLICANTS:
        record_application(url, applicant, requisition, reference)
        rows.append(_applicant_row(applicant, score, half, "3"))
        for n in (1, 2):
            answer = tmp_path / "inbox" / applicant / f"answer_{n}.webm"
            answer.parent.mkdir(parents=True, exist_ok=True)
            answer.write_bytes(clip.read_bytes())
            videos.append({"content_sha256": f"{applicant}{n}".ljust(64, "0"), "source": str(answer), "outcome": "scored",
                           "applicant_id": applicant, "batch_run_id": "run-1", "recorded_at": datetime.now(UTC)})
            segments.append({"clip_id": f"{applicant}_a{n}_s0", "applicant_id": applicant, "source": str(answer),
                             "content_sha256": f"{applicant}{n}".ljust(64, "0"), "sales_score": score,
                             "model_version": "3", "strip_png": _strip()})
    rows.append(_applicant_row("ann_k", 4.0, 1.0, "2", datetime(2026, 11, 1, tzinfo=UTC)))  # an older version's score of ann_k: never in version 3's pool
    with db.engine(url).begin() as conn:
        db.insert_new(conn, db.applicants, rows)
        db.insert_new(conn, db.videos, videos)
        db.insert_new(conn, db.segments, segments)
    return {"url": url, "root": tmp_path, "inbox": tmp_path / "inbox"}
