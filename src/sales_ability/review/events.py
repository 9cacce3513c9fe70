"""The review workspace's append-only event log: every sign-in, view, played answer, decision, export and erasure,
with who, what, when and which model version. The app only ever inserts into it (no route updates or deletes a
row); erasure empties an erased applicant's id and detail and keeps the rest, so the oversight figures survive.

Hand-offs to the tracking system are queued in the same transaction as the step they report
(``webhook_events``), so a decision is never recorded without its notice, nor sent without being recorded.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from sales_ability.results import store as db

ACTIONS: tuple[str, ...] = ("sign_in", "sign_in_refused", "sign_out", "requisition.view", "applicant.view",
                            "answer.played", "decision", "export", "explanation", "events.view", "oversight.view", "erasure")
EVENTS_PAGE = 100


def log_event(conn: Connection, actor: str, action: str, requisition_id: str | None = None,
              applicant_id: str | None = None, model_version: str | None = None, detail: dict | None = None) -> None:
    """Append one event (inside the caller's transaction)."""
    conn.execute(db.review_events.insert().values(
        at=datetime.now(UTC), actor=actor, action=action, requisition_id=requisition_id, applicant_id=applicant_id,
        model_version=model_version, detail=json.dumps(detail, sort_keys=True) if detail else None))


def read_events(url: str, page: int = 1, requisition_id: str | None = None) -> tuple[pd.DataFrame, int]:
    """One page of the log, newest first (an auditor's view), and the number of events in all."""
    query, count = select(db.review_events), select(func.count()).select_from(db.review_events)
    if requisition_id:
        query = query.where(db.review_events.c.requisition_id == requisition_id)
        count = count.where(db.review_events.c.requisition_id == requisition_id)
    with db.engine(url).connect() as conn:
        result = conn.execute(query.order_by(db.review_events.c.id.desc()).limit(EVENTS_PAGE).offset((page - 1) * EVENTS_PAGE))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
        return frame.where(frame.notna(), None), int(conn.execute(count).scalar())


def played_answers(conn: Connection, actor: str, applicant_id: str) -> int:
    """How many distinct answers ``actor`` played of ``applicant_id``'s (from the log)."""
    rows = conn.execute(select(db.review_events.c.detail).where(
        db.review_events.c.actor == actor, db.review_events.c.applicant_id == applicant_id,
        db.review_events.c.action == "answer.played"))
    return len({json.loads(r.detail or "{}").get("answer") for r in rows})


def event_id(*parts: object) -> str:
    """A stable id for a hand-off (the receiver's idempotency key): the same parts give the same id."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def queue_webhook(conn: Connection, kind: str, payload: dict, requisition_id: str | None, applicant_id: str | None,
                  key: tuple) -> str:
    """Queue a hand-off once per ``key`` (a second queueing of the same event adds nothing); returns its id."""
    eid = event_id(kind, *key)
    body = {"event_id": eid, "kind": kind, **payload}
    db.insert_new(conn, db.webhook_events, [{"event_id": eid, "kind": kind, "requisition_id": requisition_id,
                                              "applicant_id": applicant_id, "payload": json.dumps(body, sort_keys=True, default=str),
                                              "created_at": datetime.now(UTC), "attempts": 0,
                                              "next_attempt_at": datetime.now(UTC)}])
    return eid
