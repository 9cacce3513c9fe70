"""Requisitions (jobs) and their applicants, in score bands drawn from the intervals, never as ordinals.

A requisition has a title, the knowledge base its applicants are read with (``sales``: the paper's sales profile,
whatever thresholds the champion carries; or a role profile's name) and the recruiters assigned to it. An
applicant belongs to a requisition through ``applications``: the screening link carries the requisition and the
applicant's reference in the company's tracking system, and the website records both at consent.

**Bands.** Within one pool (the requisition's applicants scored by one model version under its knowledge base),
an applicant is ``above`` the pool's median when their whole interval lies above it, ``below`` when it lies below,
and ``overlaps`` otherwise: neighbours whose intervals overlap cannot be told apart, so no rank is shown.
Applicants scored by different model versions are never in one pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import select

from sales_ability.data.applicant_folder import ATS_REFERENCE, REQUISITION_ID
from sales_ability.errors import SalesAbilityError
from sales_ability.results import store as db

SALES = "sales"  # the paper's sales profile: E, C, O up; A, N reversed
BANDS: tuple[str, ...] = ("above", "overlaps", "below")
BAND_TEXT = {"above": "above the pool's median", "overlaps": "overlaps the median", "below": "below the pool's median"}
PAGE_SIZE = 25


class RequisitionError(SalesAbilityError):
    """A requisition or application that cannot be made as asked (a malformed or unknown id)."""


@dataclass(frozen=True)
class Requisition:
    requisition_id: str
    title: str
    knowledge_base: str


def check_requisition_id(requisition_id: str) -> str:
    if not REQUISITION_ID.fullmatch(requisition_id or ""):
        raise RequisitionError(f"{requisition_id!r} is not a requisition id (1-64 letters, digits, . _ -)")
    return requisition_id


def check_reference(reference: str) -> str:
    if not ATS_REFERENCE.fullmatch(reference or ""):
        raise RequisitionError(f"{reference!r} is not a tracking-system reference (1-100 letters, digits, space . _ : / # -)")
    return reference


def _exists(conn, requisition_id: str) -> bool:
    return conn.execute(select(db.requisitions.c.requisition_id)
                        .where(db.requisitions.c.requisition_id == requisition_id)).first() is not None


def create_requisition(url: str, requisition_id: str, title: str, knowledge_base: str = SALES) -> Requisition:
    """A new job (``RequisitionError`` when the id is malformed or taken)."""
    check_requisition_id(requisition_id)
    if not title.strip():
        raise RequisitionError("a requisition needs a title")
    with db.engine(url).begin() as conn:
        if _exists(conn, requisition_id):
            raise RequisitionError(f"requisition {requisition_id!r} exists already")
        conn.execute(db.requisitions.insert().values(requisition_id=requisition_id, title=title.strip(),
                                                     knowledge_base=knowledge_base, created_at=datetime.now(UTC)))
    return Requisition(requisition_id, title.strip(), knowledge_base)


def assign(url: str, requisition_id: str, username: str) -> None:
    """Assign a recruiter to a requisition (once; unknown names refused)."""
    with db.engine(url).begin() as conn:
        if not _exists(conn, requisition_id):
            raise RequisitionError(f"no requisition {requisition_id!r}")
        if not conn.execute(select(db.accounts.c.username).where(db.accounts.c.username == username)).first():
            raise RequisitionError(f"no account {username!r}")
        db.insert_new(conn, db.requisition_recruiters, [{"requisition_id": requisition_id, "username": username}])


def requisitions_for(url: str, username: str, role: str) -> list[Requisition]:
    """The requisitions a person may open: all for auditors and admins, the assigned ones for a recruiter."""
    query = select(db.requisitions).order_by(db.requisitions.c.requisition_id)
    if role == "recruiter":
        query = query.join(db.requisition_recruiters, db.requisition_recruiters.c.requisition_id == db.requisitions.c.requisition_id) \
                     .where(db.requisition_recruiters.c.username == username)
    with db.engine(url).connect() as conn:
        return [Requisition(r.requisition_id, r.title, r.knowledge_base) for r in conn.execute(query)]


def record_application(url: str, applicant_id: str, requisition_id: str, reference: str | None) -> None:
    """Which requisition an applicant applied to, with their tracking-system reference (the website, at consent).
    An unknown requisition is refused: the link was mistyped or the job closed."""
    check_requisition_id(requisition_id)
    if reference is not None:
        check_reference(reference)
    with db.engine(url).begin() as conn:
        if not _exists(conn, requisition_id):
            raise RequisitionError(f"no requisition {requisition_id!r}: the screening link names a job that is not open")
        db.insert_new(conn, db.applications, [{"applicant_id": applicant_id, "requisition_id": requisition_id,
                                                "ats_reference": reference, "applied_at": datetime.now(UTC)}])


def _kb_matches(requisition: Requisition, knowledge_base: str | None) -> bool:
    return (knowledge_base != "profile") if requisition.knowledge_base == SALES else knowledge_base == "profile"


def bands(scores: pd.DataFrame) -> pd.Series:
    """``above``/``overlaps``/``below`` of each row (``sales_score_low``/``_high``) against the rows' median score."""
    median = float(scores["sales_score"].median())
    low, high = scores["sales_score_low"].fillna(scores["sales_score"]), scores["sales_score_high"].fillna(scores["sales_score"])
    return pd.Series(["above" if lo > median else "below" if hi < median else "overlaps" for lo, hi in zip(low, high, strict=True)],
                     index=scores.index, dtype=object)


@dataclass
class Pool:
    """One requisition's applicants scored by one model version: rows with ``band``, the median, other versions."""

    requisition: Requisition
    model_version: str | None
    median: float | None
    rows: pd.DataFrame
    versions: dict[str, int]  # every model version that scored this requisition's applicants -> applicants
    other_knowledge_base: int  # applicants scored under another knowledge base than the requisition's (not shown)


def pool(url: str, requisition: Requisition, model_version: str | None = None) -> Pool:
    """The requisition's applicants as scored by ``model_version`` (default: the one that scored most of them), banded,
    each with its latest decision; ordered by band, then by reference (never by score)."""
    return _pool(requisition, *_scored(url, requisition), model_version)


def pools(url: str, requisition: Requisition) -> list[Pool]:
    """Every model version's pool of the requisition, the default one first, from one read of the database."""
    scored = _scored(url, requisition)
    first = _pool(requisition, *scored, None)
    return [first] + [_pool(requisition, *scored, v) for v in first.versions if v != first.model_version]


def _scored(url: str, requisition: Requisition) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The requisition's applicants scored under its knowledge base, their latest decisions, and how many
    applicants were scored under another knowledge base."""
    columns = [db.applicants.c[c] for c in ("applicant_id", "answers", "segments", "face_share", "sales_score",
                                            "sales_score_low", "sales_score_high", "model_version", "knowledge_base",
                                            "scored_at", "answers_disagree")]
    with db.engine(url).connect() as conn:
        result = conn.execute(select(*columns, db.applications.c.ats_reference)
                              .join(db.applications, db.applications.c.applicant_id == db.applicants.c.applicant_id)
                              .where(db.applications.c.requisition_id == requisition.requisition_id))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        latest = latest_decisions(conn, requisition.requisition_id)
    if frame.empty:
        return frame, latest, 0
    fits = frame["knowledge_base"].map(lambda k: _kb_matches(requisition, k))
    return frame[fits], latest, int((~fits).sum())


def _pool(requisition: Requisition, frame: pd.DataFrame, latest: pd.DataFrame, other: int,
          model_version: str | None) -> Pool:
    # the version that scored most of the requisition's applicants first (the newest among equals), then the rest
    per_version = (frame.groupby("model_version").agg(n=("applicant_id", "size"), newest=("scored_at", "max"))
                   .sort_values(["n", "newest"], ascending=False) if len(frame) else pd.DataFrame(columns=["n"]))
    counts = {str(v): int(n) for v, n in per_version["n"].items()}
    chosen = model_version if model_version in counts else (next(iter(counts)) if counts else None)
    rows = frame[frame["model_version"] == chosen].copy() if chosen else frame.iloc[0:0].copy()
    median = float(rows["sales_score"].median()) if len(rows) else None
    rows["band"] = bands(rows) if len(rows) else pd.Series(dtype=object)
    rows = rows.merge(latest, on="applicant_id", how="left")
    rows["band_order"] = rows["band"].map({b: i for i, b in enumerate(BANDS)})
    rows = rows.sort_values(["band_order", "ats_reference", "applicant_id"], na_position="last", ignore_index=True)
    return Pool(requisition, chosen, median, rows.drop(columns="band_order"), counts, other)


def latest_decisions(conn, requisition_id: str) -> pd.DataFrame:
    """Per applicant of the requisition: the latest ``decision``, ``reason``, ``reviewer``, ``decided_at``."""
    result = conn.execute(select(db.decisions.c.applicant_id, db.decisions.c.decision, db.decisions.c.reason,
                                 db.decisions.c.note, db.decisions.c.reviewer, db.decisions.c.decided_at,
                                 db.decisions.c.unwatched)
                          .where(db.decisions.c.requisition_id == requisition_id, db.decisions.c.applicant_id.is_not(None))
                          .order_by(db.decisions.c.id))
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.drop_duplicates("applicant_id", keep="last")


def requisition_of(url: str, applicant_id: str) -> str | None:
    """The requisition an applicant applied to (None: none recorded)."""
    with db.engine(url).connect() as conn:
        return conn.execute(select(db.applications.c.requisition_id).where(db.applications.c.applicant_id == applicant_id)).scalar()


def find_requisition(url: str, requisition_id: str) -> Requisition | None:
    with db.engine(url).connect() as conn:
        row = conn.execute(select(db.requisitions).where(db.requisitions.c.requisition_id == requisition_id)).first()
    return Requisition(row.requisition_id, row.title, row.knowledge_base) if row else None


def may_open(url: str, username: str, role: str, requisition_id: str) -> bool:
    """Whether a person may open a requisition (recruiters: only those assigned to them)."""
    if role in ("auditor", "admin"):
        return find_requisition(url, requisition_id) is not None
    with db.engine(url).connect() as conn:
        return conn.execute(select(db.requisition_recruiters.c.username).where(
            db.requisition_recruiters.c.requisition_id == requisition_id,
            db.requisition_recruiters.c.username == username)).first() is not None
