"""The review workspace over HTTP (FastAPI's test client): bands not ranks, refusals, decisions frozen with what
the reviewer saw, the append-only log, exports, the oversight figures and erasure."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sales_ability.results import store as db
from sales_ability.results.erasure import erase_applicant
from sales_ability.review.accounts import MAX_FAILURES
from sales_ability.review.app import ReviewSettings, create_app
from sales_ability.review.oversight import oversight
from tests.review.conftest import PASSWORD

EMOTION_WORDS = ("emotion", "happy", "happiness", "sad", "angry", "anger", "fear", "afraid", "disgust", "surprise",
                 "joy", "mood", "smile", "nervous", "anxious", "feeling")


def client(workspace: dict) -> TestClient:
    return TestClient(create_app(ReviewSettings(database_url=workspace["url"], cookie_secure=False)),
                      base_url="http://127.0.0.1")


def signed_in(workspace: dict, username: str) -> tuple[TestClient, str]:
    """A client signed in as ``username`` and the session's CSRF token."""
    cl = client(workspace)
    answer = cl.post("/signin", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', cl.get("/").text).group(1)
    return cl, csrf


def bands_shown(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-applicant="(\w+)"><td><span class="band band-(\w+)', html))


def events(url: str) -> list:
    with db.engine(url).connect() as conn:
        return conn.execute(select(db.review_events).order_by(db.review_events.c.id)).fetchall()


def test_applicants_are_shown_in_bands_of_one_model_version_never_ranked(workspace: dict) -> None:
    cl, _ = signed_in(workspace, "rita")
    page = cl.get("/requisitions/REQ-1").text
    assert bands_shown(page) == {"ann_k": "above", "fay_k": "above", "cyd_k": "overlaps", "dan_k": "overlaps",
                                 "eve_k": "overlaps", "bob_k": "below"}
    assert "#1" not in page and "Model version <strong>3</strong>" in page
    older = cl.get("/requisitions/REQ-1?version=2").text  # ann_k's older score stands alone, never beside version 3's
    assert bands_shown(older) == {"ann_k": "overlaps"}
    assert set(bands_shown(cl.get("/requisitions/REQ-1?band=above").text)) == {"ann_k", "fay_k"}


def test_refusals_no_session_wrong_role_other_requisition_forged_csrf(workspace: dict) -> None:
    anonymous = client(workspace)
    assert anonymous.get("/requisitions/REQ-1", headers={"Accept": "text/html"}, follow_redirects=False).headers["location"] == "/signin"
    assert anonymous.get("/requisitions/REQ-1/applicants/ann_k/answers/1").status_code == 401
    assert anonymous.post("/requisitions/REQ-1/applicants/ann_k/decision", data={"decision": "advance"}).status_code == 401
    rita, csrf = signed_in(workspace, "rita")
    assert rita.get("/requisitions/REQ-2").status_code == 403  # not assigned to her
    assert rita.get("/requisitions/REQ-1/applicants/gus_k").status_code == 404  # REQ-2's applicant, through REQ-1
    assert rita.get("/requisitions/REQ-1/applicants/gus_k/answers/1").status_code == 404
    assert rita.get("/audit/events").status_code == 403  # recruiters do not read the log
    forged = rita.post("/requisitions/REQ-1/applicants/ann_k/decision",
                       data={"csrf_token": csrf[:-2] + "xx", "decision": "reject", "reason": "communication", "version": "3"})
    assert forged.status_code == 403
    assert rita.post("/requisitions/REQ-1/applicants/ann_k/answers/1/played").status_code == 403  # no token header
    auditor, audit_csrf = signed_in(workspace, "audrey")
    refused = auditor.post("/requisitions/REQ-1/applicants/ann_k/decision",
                           data={"csrf_token": audit_csrf, "decision": "advance", "reason": "communication", "version": "3"})
    assert refused.status_code == 403
    with db.engine(workspace["url"]).connect() as conn:
        assert conn.execute(select(db.decisions)).fetchall() == []


def test_a_decision_freezes_what_was_shown_and_flags_one_taken_without_playing(workspace: dict) -> None:
    rita, csrf = signed_in(workspace, "rita")
    played = rita.post("/requisitions/REQ-1/applicants/ann_k/answers/2/played", headers={"X-CSRF-Token": csrf})
    assert played.status_code == 200
    for applicant, choice in (("ann_k", "advance"), ("bob_k", "reject")):
        answer = rita.post(f"/requisitions/REQ-1/applicants/{applicant}/decision", follow_redirects=False,
                           data={"csrf_token": csrf, "decision": choice, "reason": "communication", "note": "=SUM(A1)", "version": "3"})
        assert answer.status_code == 303, answer.text
    with db.engine(workspace["url"]).connect() as conn:
        rows = {r.applicant_id: r for r in conn.execute(select(db.decisions))}
        hooks = conn.execute(select(db.webhook_events.c.kind, db.webhook_events.c.payload)).fetchall()
    assert (rows["ann_k"].sales_score, rows["ann_k"].sales_score_low, rows["ann_k"].band, rows["ann_k"].model_version) == (8.6, 8.1, "above", "3")
    assert (rows["ann_k"].answers_played, rows["ann_k"].unwatched) == (1, False)
    assert (rows["bob_k"].answers_played, rows["bob_k"].unwatched, rows["bob_k"].reviewer) == (0, True, "rita")
    assert sorted(json.loads(p)["applicant_id"] for k, p in hooks if k == "decision") == ["ann_k", "bob_k"]
    assert "no answer played" in rita.get("/requisitions/REQ-1").text
    bad = rita.post("/requisitions/REQ-1/applicants/cyd_k/decision",
                    data={"csrf_token": csrf, "decision": "maybe", "reason": "communication", "version": "3"})
    assert bad.status_code == 422 and "not one of advance, hold, reject" in bad.text
    csv = rita.get("/requisitions/REQ-1/export.csv").text
    assert "'=SUM(A1)" in csv and ",=SUM" not in csv  # a spreadsheet shows the note, never runs it
    exported = rita.get("/requisitions/REQ-1/export.json").json()
    assert {a["applicant_id"]: a["decision"] for a in exported["applicants"] if a["model_version"] == "3"}["bob_k"] == "reject"
    actions = [e.action for e in events(workspace["url"])]
    assert actions.count("decision") == 2 and "answer.played" in actions and "export" in actions


def test_the_log_cannot_be_changed_through_the_app(workspace: dict) -> None:
    auditor, csrf = signed_in(workspace, "audrey")
    assert auditor.get("/audit/events").status_code == 200
    before = events(workspace["url"])
    for method in ("put", "patch", "delete", "post"):
        assert getattr(auditor, method)("/audit/events").status_code == 405
    assert auditor.delete("/audit/events/1").status_code == 404
    after = events(workspace["url"])
    assert after == before  # nothing changed, nothing appended by the refused requests
    assert [e.action for e in after] == ["sign_in", "events.view"]


def test_failed_sign_ins_lock_the_account_and_answer_more_slowly(workspace: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from sales_ability.review import app as review_app

    monkeypatch.setattr(review_app, "SIGN_IN_DELAY_S", 0.0)
    cl = client(workspace)
    codes = [cl.post("/signin", data={"username": "rita", "password": "wrong password!"}).status_code for _ in range(MAX_FAILURES)]
    assert codes == [401] * (MAX_FAILURES - 1) + [429]
    locked = cl.post("/signin", data={"username": "rita", "password": PASSWORD})
    assert locked.status_code == 429 and "locked until" in locked.text
    assert cl.post("/signin", data={"username": "nobody", "password": PASSWORD}).status_code == 401


def test_sign_out_and_a_disabled_account_end_the_session(workspace: dict) -> None:
    from sales_ability.review.accounts import set_disabled

    rita, csrf = signed_in(workspace, "rita")
    assert rita.post("/signout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert rita.get("/requisitions/REQ-1").status_code == 401
    rita, _ = signed_in(workspace, "rita")
    set_disabled(workspace["url"], "rita")
    assert rita.get("/requisitions/REQ-1").status_code == 401


def test_answers_stream_with_range_requests(workspace: dict) -> None:
    rita, _ = signed_in(workspace, "rita")
    whole = rita.get("/requisitions/REQ-1/applicants/ann_k/answers/1")
    part = rita.get("/requisitions/REQ-1/applicants/ann_k/answers/1", headers={"Range": "bytes=10-49"})
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/webm"
    assert part.status_code == 206 and part.content == whole.content[10:50]
    assert part.headers["content-range"] == f"bytes 10-49/{len(whole.content)}"


def test_the_applicants_explanation_is_plain_and_names_no_emotion(workspace: dict) -> None:
    rita, _ = signed_in(workspace, "rita")
    letter = rita.get("/requisitions/REQ-1/applicants/ann_k/explanation").text
    text = " ".join(re.sub(r"<[^>]+>", " ", letter.split("<body>")[1]).lower().split())
    assert "a person at the company" in text and "deleted" in text and "another process" in text
    assert [w for w in EMOTION_WORDS if re.search(rf"\b{w}", text)] == []


def test_oversight_counts_selection_and_decisions_against_the_band(workspace: dict) -> None:
    rita, csrf = signed_in(workspace, "rita")
    for applicant, choice in (("ann_k", "reject"), ("bob_k", "advance"), ("cyd_k", "advance"), ("fay_k", "advance")):
        rita.post(f"/requisitions/REQ-1/applicants/{applicant}/decision",
                  data={"csrf_token": csrf, "decision": choice, "reason": "role_experience", "version": "3"})
    figures = oversight(workspace["url"])["requisitions"]["REQ-1"]
    assert figures["decisions"] == 4 and figures["selection"]["count"] == 3
    assert figures["against_band"]["count"] == 2  # ann_k rejected from above, bob_k advanced from below
    assert figures["unwatched"]["count"] == 4 and figures["selection"]["ci95"][0] < 0.75 < figures["selection"]["ci95"][1]
    rows = {(r["dimension"], r["category"]): r for r in figures["selection_audit"]}
    assert rows[("sex", "unknown")]["applicants"] == 4 and rows[("sex", "unknown")]["selection_rate"] == 0.75


def test_erasure_removes_the_person_from_decisions_events_and_hand_offs(workspace: dict) -> None:
    url = workspace["url"]
    rita, csrf = signed_in(workspace, "rita")
    rita.get("/requisitions/REQ-1/applicants/ann_k")
    rita.post("/requisitions/REQ-1/applicants/ann_k/decision",
              data={"csrf_token": csrf, "decision": "advance", "reason": "other", "note": "met at the fair", "version": "3"})
    erase_applicant("ann_k", url, inbox=workspace["inbox"], request="cli")
    with db.engine(url).connect() as conn:
        decision = conn.execute(select(db.decisions)).one()
        assert (decision.applicant_id, decision.note, decision.decision, decision.band) == (None, None, "advance", "above")
        assert conn.execute(select(db.applications).where(db.applications.c.applicant_id == "ann_k")).fetchall() == []
        assert conn.execute(select(db.webhook_events).where(db.webhook_events.c.applicant_id == "ann_k")).fetchall() == []
        dump = "\n".join(str(tuple(r)) for t in (db.review_events, db.decisions, db.webhook_events, db.tombstones)
                         for r in conn.execute(select(t)))
    assert "ann_k" not in dump and "ATS-101" not in dump and "met at the fair" not in dump
    assert [e.action for e in events(url)][-1] == "erasure"
    assert "ann_k" not in rita.get("/requisitions/REQ-1").text
