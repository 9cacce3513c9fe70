"""A reviewer's decision on an applicant: advance, hold or reject, a reason from a list and a note.

The score, interval, band and model version the reviewer saw are frozen with the decision, with how many of the
applicant's answers the reviewer played; a decision taken without playing any is flagged ``unwatched`` (a guard
against rubber-stamping the score). The decision, its event and its hand-off to the tracking system are one
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sales_ability.errors import SalesAbilityError
from sales_ability.results import store as db
from sales_ability.review.accounts import Session
from sales_ability.review.events import log_event, played_answers, queue_webhook
from sales_ability.review.requisitions import Requisition, pool

DECISIONS: tuple[str, ...] = ("advance", "hold", "reject")
REASONS: dict[str, str] = {
    "role_experience": "experience relevant to the role",
    "communication": "how the answers communicate",
    "requirements_not_met": "a stated requirement of the role is not met",
    "incomplete_answers": "answers incomplete or hard to follow",
    "second_opinion": "needs a second reviewer or an interview",
    "withdrew": "the applicant withdrew or asked for another process",
    "other": "other (see the note)",
}
MAX_NOTE = 2000


class DecisionError(SalesAbilityError):
    """A decision that cannot be recorded as sent (unknown choice or reason, an applicant not in this pool)."""


@dataclass(frozen=True)
class Decision:
    applicant_id: str
    decision: str
    band: str
    model_version: str
    answers_played: int
    unwatched: bool
    event_id: str


def record_decision(url: str, session: Session, requisition: Requisition, applicant_id: str, decision: str,
                    reason: str, note: str = "", model_version: str | None = None) -> Decision:
    """Record ``session``'s decision on an applicant of ``requisition`` as scored by ``model_version``."""
    if not session.can_decide():
        raise DecisionError(f"{session.role}s do not record decisions")
    if decision not in DECISIONS:
        raise DecisionError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
    if reason not in REASONS:
        raise DecisionError(f"reason {reason!r} is not one of the list")
    if len(note) > MAX_NOTE:
        raise DecisionError(f"the note has {len(note)} characters; at most {MAX_NOTE}")
    if reason == "other" and not note.strip():
        raise DecisionError("the reason 'other' needs a note")
    shown = pool(url, requisition, model_version)
    row = shown.rows[shown.rows["applicant_id"] == applicant_id]
    if row.empty:
        raise DecisionError(f"applicant {applicant_id!r} is not in requisition {requisition.requisition_id!r} "
                            f"as scored by model version {shown.model_version}")
    row = row.iloc[0]
    now = datetime.now(UTC)
    with db.engine(url).begin() as conn:
        played = played_answers(conn, session.username, applicant_id)
        frozen = {"sales_score": float(row["sales_score"]), "sales_score_low": _float(row["sales_score_low"]),
                  "sales_score_high": _float(row["sales_score_high"]), "band": row["band"],
                  "model_version": str(row["model_version"])}
        conn.execute(db.decisions.insert().values(
            applicant_id=applicant_id, requisition_id=requisition.requisition_id, reviewer=session.username,
            decision=decision, reason=reason, note=note.strip() or None, answers_played=played, unwatched=played == 0,
            decided_at=now, **frozen))
        log_event(conn, session.username, "decision", requisition.requisition_id, applicant_id, frozen["model_version"],
                  {"decision": decision, "reason": reason, "band": frozen["band"], "answers_played": played})
        eid = queue_webhook(conn, "decision", {
            "requisition_id": requisition.requisition_id, "applicant_id": applicant_id,
            "ats_reference": row.get("ats_reference"), "decision": decision, "reason": reason, "reason_text": REASONS[reason],
            "note": note.strip() or None, "reviewer": session.username, "decided_at": now.isoformat(timespec="seconds"),
            "answers_played": played, "unwatched": played == 0, **frozen,
        }, requisition.requisition_id, applicant_id, key=(requisition.requisition_id, applicant_id, now.isoformat(), session.username))
    return Decision(applicant_id, decision, frozen["band"], frozen["model_version"], played, played == 0, eid)


def _float(value) -> float | None:
    return None if value is None or value != value else float(value)
