"""Hand-off to the company's applicant tracking system: exports per requisition and a signed webhook.

- **Exports** (CSV and JSON) hold each applicant of a requisition per model version: tracking reference, score
  and interval, band, the latest decision with reason, reviewer and time. CSV cells that a spreadsheet would run
  as a formula (``=``, ``+``, ``-``, ``@`` ...) are neutralised.
- **Webhook**: each decision and each scored applicant of a requisition is queued (``webhook_events``, in the
  transaction that records it) and delivered by a background sender, never by the request that made it: a slow or
  down tracking system never blocks a review. Each POST carries ``X-Sales-Ability-Event-Id`` (the same on every
  retry: the receiver's idempotency key), ``X-Sales-Ability-Timestamp`` and ``X-Sales-Ability-Signature``
  (``sha256=`` HMAC-SHA256 of ``<timestamp>.<body>`` under the shared secret; ``verify_signature`` is the
  receiver's check). A failure is retried with exponential back-off up to ``MAX_ATTEMPTS`` times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import select, update

from sales_ability.errors import SalesAbilityError
from sales_ability.io_utils import write_csv_neutralised, write_json_atomic
from sales_ability.results import store as db
from sales_ability.review.events import event_id, queue_webhook
from sales_ability.review.requisitions import Requisition, pools

EXPORT_COLUMNS: tuple[str, ...] = (
    "requisition_id", "applicant_id", "ats_reference", "model_version", "knowledge_base", "scored_at", "sales_score",
    "sales_score_low", "sales_score_high", "band", "answers_disagree", "decision", "reason", "note", "reviewer",
    "decided_at", "unwatched")
MAX_ATTEMPTS = 8
FIRST_RETRY_S = 5.0
MAX_RETRY_S = 3600.0
SIGNATURE_TOLERANCE_S = 300
MIN_SECRET = 32

log = logging.getLogger(__name__)


class WebhookError(SalesAbilityError):
    """The webhook is configured in a way it refuses (no secret, or a short one)."""


def export_frame(url: str, requisition: Requisition) -> pd.DataFrame:
    """Every applicant of the requisition, per model version that scored them, with their latest decision."""
    frames = [p.rows.assign(requisition_id=requisition.requisition_id) for p in pools(url, requisition) if len(p.rows)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(EXPORT_COLUMNS))
    for column in EXPORT_COLUMNS:
        if column not in frame:
            frame[column] = None
    return frame[list(EXPORT_COLUMNS)]


def write_export(url: str, requisition: Requisition, out_dir: str | Path) -> dict[str, Path]:
    """``<requisition>.csv`` (spreadsheet-safe) and ``<requisition>.json`` in ``out_dir``."""
    frame = export_frame(url, requisition)
    out_dir = Path(out_dir)
    paths = {"csv": out_dir / f"{requisition.requisition_id}.csv", "json": out_dir / f"{requisition.requisition_id}.json"}
    write_csv_neutralised(paths["csv"], frame)
    write_json_atomic(paths["json"], export_records(frame, requisition))
    return paths


def export_records(frame: pd.DataFrame, requisition: Requisition) -> dict:
    """The JSON export's body."""
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    return {"requisition_id": requisition.requisition_id, "title": requisition.title,
            "knowledge_base": requisition.knowledge_base, "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "applicants": rows}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """The receiver's check: the signature matches and the timestamp is within ``SIGNATURE_TOLERANCE_S``."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= SIGNATURE_TOLERANCE_S and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def queue_scored_applicants(url: str) -> int:
    """Queue ``applicant.scored`` once per applicant of a requisition and model version; returns how many are new."""
    columns = [db.applicants.c[c] for c in ("applicant_id", "model_version", "knowledge_base", "sales_score", "sales_score_low",
                                            "sales_score_high", "scored_at", "answers_disagree")]
    with db.engine(url).begin() as conn:
        queued = {r.event_id for r in conn.execute(select(db.webhook_events.c.event_id).where(db.webhook_events.c.kind == "applicant.scored"))}
        rows = conn.execute(select(*columns, db.applications.c.requisition_id, db.applications.c.ats_reference)
                            .join(db.applications, db.applications.c.applicant_id == db.applicants.c.applicant_id)).fetchall()
        new = 0
        for r in rows:
            if event_id("applicant.scored", r.applicant_id, r.model_version) in queued:
                continue
            payload = {"requisition_id": r.requisition_id, "applicant_id": r.applicant_id, "ats_reference": r.ats_reference,
                       "model_version": r.model_version, "knowledge_base": r.knowledge_base, "sales_score": r.sales_score,
                       "sales_score_low": r.sales_score_low, "sales_score_high": r.sales_score_high,
                       "scored_at": r.scored_at.isoformat(timespec="seconds") if r.scored_at else None,
                       "answers_disagree": r.answers_disagree,
                       "note": "decision support: a person reviews the answers and decides"}
            queue_webhook(conn, "applicant.scored", payload, r.requisition_id, r.applicant_id, key=(r.applicant_id, r.model_version))
            new += 1
    return new


def check_secret(secret: str | None) -> str:
    if not secret or len(secret) < MIN_SECRET:
        raise WebhookError(f"the webhook needs SALES_ABILITY_REVIEW_WEBHOOK_SECRET of at least {MIN_SECRET} characters")
    return secret


def deliver_due(url: str, webhook_url: str, secret: str, client=None, now: datetime | None = None) -> dict[str, int]:
    """POST every queued event that is due; returns counts of ``delivered``, ``failed`` (retried later) and
    ``gave_up`` (after ``MAX_ATTEMPTS``)."""
    import httpx

    check_secret(secret)
    now = now or datetime.now(UTC)
    counts = {"delivered": 0, "failed": 0, "gave_up": 0}
    own = client is None
    client = client or httpx.Client(timeout=10.0)
    try:
        with db.engine(url).connect() as conn:
            due = conn.execute(select(db.webhook_events).where(
                db.webhook_events.c.delivered_at.is_(None), db.webhook_events.c.attempts < MAX_ATTEMPTS,
                db.webhook_events.c.next_attempt_at <= now).order_by(db.webhook_events.c.created_at)).fetchall()
        for event in due:
            body = event.payload.encode()
            stamp = str(int(time.time()))
            error = None
            try:
                answer = client.post(webhook_url, content=body, headers={
                    "Content-Type": "application/json", "X-Sales-Ability-Event-Id": event.event_id,
                    "X-Sales-Ability-Timestamp": stamp, "X-Sales-Ability-Signature": sign(secret, stamp, body)})
                if not answer.is_success:
                    error = f"HTTP {answer.status_code}"
            except httpx.HTTPError as err:
                error = type(err).__name__
            attempts = event.attempts + 1
            values = {"attempts": attempts}
            if error is None:
                values["delivered_at"] = datetime.now(UTC)
                counts["delivered"] += 1
            else:
                values["last_error"] = error
                values["next_attempt_at"] = now + timedelta(seconds=min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (attempts - 1)))
                counts["gave_up" if attempts >= MAX_ATTEMPTS else "failed"] += 1
                log.warning("webhook event %s (%s): attempt %d failed: %s", event.event_id, event.kind, attempts, error)
            with db.engine(url).begin() as conn:  # one event at a time: a crash re-sends at most the one in flight
                conn.execute(update(db.webhook_events).where(db.webhook_events.c.event_id == event.event_id).values(**values))
    finally:
        if own:
            client.close()
    return counts


class Sender:
    """The background sender of the review app: every ``every_s`` it queues newly scored applicants and delivers
    what is due, in its own thread (a slow tracking system never holds a request)."""

    def __init__(self, url: str, webhook_url: str | None, secret: str | None, every_s: float = 5.0) -> None:
        self.url, self.webhook_url, self.secret, self.every_s = url, webhook_url, secret, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.webhook_url:
            check_secret(self.secret)
            self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                queue_scored_applicants(self.url)
                deliver_due(self.url, self.webhook_url, self.secret)
            except Exception as err:  # noqa: BLE001 - the sender keeps going; the events stay queued
                log.error("webhook sender: %s", err)
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
