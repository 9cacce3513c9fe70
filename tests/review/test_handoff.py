"""The tracking system's side: the screening link's requisition and reference reach the results database, and
the webhook is signed, retried with back-off, idempotent per event id, and never sent twice once delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sales_ability.collect.app import WebsiteSettings, create_app
from sales_ability.results import store as db
from sales_ability.review.handoff import deliver_due, queue_scored_applicants, sign, verify_signature
from sales_ability.review.requisitions import record_application
from tests.review.loopback import SECRET, Receiver

@pytest.fixture()
def receiver():
    made: list[Receiver] = []
    yield lambda fail_first=0: made.append(Receiver(fail_first)) or made[-1]
    for r in made:
        r.close()


def test_a_tampered_body_or_signature_or_an_old_timestamp_fails_verification() -> None:
    body, stamp = b'{"decision": "reject"}', str(int(datetime.now(UTC).timestamp()))
    good = sign(SECRET, stamp, body)
    assert verify_signature(SECRET, stamp, body, good)
    assert not verify_signature(SECRET, stamp, b'{"decision": "advance"}', good)
    assert not verify_signature(SECRET, stamp, body, good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert not verify_signature("another-secret-entirely-0123456789abc", stamp, body, good)
    old = str(int(stamp) - 3600)
    assert not verify_signature(SECRET, old, body, sign(SECRET, old, body))


def test_scored_applicants_are_sent_once_with_back_off_after_failures(workspace: dict, receiver) -> None:
    url, tracking = workspace["url"], receiver(fail_first=2)
    assert queue_scored_applicants(url) == 8  # 7 applicants of version 3 and ann_k's version 2
    assert queue_scored_applicants(url) == 0  # queued once per applicant and version
    now = datetime.now(UTC)
    first = deliver_due(url, tracking.url, SECRET, now=now)
    assert first["failed"] == 2 and first["delivered"] == 6
    assert deliver_due(url, tracking.url, SECRET, now=now)["delivered"] == 0  # the failed two wait their back-off
    later = deliver_due(url, tracking.url, SECRET, now=now + timedelta(seconds=6))
    assert later == {"delivered": 2, "failed": 0, "gave_up": 0}
    assert len(tracking.events) == 8 and tracking.posts == 10 and tracking.refused == 0
    payloads = {e["applicant_id"] for e in tracking.events.values() if e["kind"] == "applicant.scored"}
    assert payloads == {"ann_k", "bob_k", "cyd_k", "dan_k", "eve_k", "fay_k", "gus_k"}
    assert deliver_due(url, tracking.url, SECRET, now=now + timedelta(hours=1)) == {"delivered": 0, "failed": 0, "gave_up": 0}


def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(workspace: dict, receiver) -> None:
    url, tracking = workspace["url"], receiver()
    queue_scored_applicants(url)
    counts = deliver_due(url, tracking.url, "not-the-shared-secret-but-long-enough-0123")
    assert counts["failed"] == 8 and tracking.events == {} and tracking.refused == 8
    with db.engine(url).connect() as conn:
        assert {r.last_error for r in conn.execute(select(db.webhook_events))} == {"HTTP 401"}


def test_the_screening_link_carries_the_requisition_and_reference_into_the_database(workspace: dict, tmp_path: Path) -> None:
    url = workspace["url"]
    site = TestClient(create_app(tmp_path / "site", WebsiteSettings(mode="screening", inbox=tmp_path / "inbox2"),
                                 on_apply=lambda pid, a: record_application(url, pid, a["requisition"], a.get("reference"))))
    made = site.post("/api/participants", json={"agree": True, "requisition": "REQ-1", "reference": "ATS-900"})
    assert made.status_code == 201, made.text
    pid = made.json()["participant_id"]
    meta = json.loads((tmp_path / "site" / pid / "metadata.json").read_text())
    assert meta["application"] == {"requisition": "REQ-1", "reference": "ATS-900"}
    with db.engine(url).connect() as conn:
        row = conn.execute(select(db.applications).where(db.applications.c.applicant_id == pid)).one()
    assert (row.requisition_id, row.ats_reference) == ("REQ-1", "ATS-900")
    closed = site.post("/api/participants", json={"agree": True, "requisition": "REQ-9"})
    assert closed.status_code == 422 and "REQ-9" in closed.json()["detail"]
    assert sorted(p.name for p in (tmp_path / "site").iterdir() if not p.name.startswith(".")) == [pid]  # nothing kept
    assert site.post("/api/participants", json={"agree": True, "requisition": "../x"}).status_code == 422
    assert site.post("/api/participants", json={"agree": True, "reference": "ATS-1"}).status_code == 422
