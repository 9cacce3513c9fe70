"""The review workspace (``sales-ability review serve``): recruiters review a requisition's applicants by band,
play their answers, and record a reasoned decision; auditors read the event log and the oversight figures.

Every page needs a session (``accounts``); every form and the play beacon carry the session's CSRF token; a
recruiter opens only the requisitions assigned to them, and an applicant only within their requisition. Each
view, played answer, decision, export and explanation is appended to the event log. Answers stream from the files
the batch scored (``videos``), through this authenticated route, with HTTP range requests (seeking works).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import math
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from sales_ability.collect.middleware import SecurityHeaders
from sales_ability.data.applicant_folder import QUESTIONS, answer_number
from sales_ability.io_utils import neutralised
from sales_ability.pages import render_page
from sales_ability.registry.card import LABEL_CAVEATS
from sales_ability.results import store as db
from sales_ability.review.accounts import Session, SignInRefused, session_for, sign_in, sign_out
from sales_ability.review.decisions import DECISIONS, REASONS, DecisionError, record_decision
from sales_ability.review.events import EVENTS_PAGE, log_event, read_events
from sales_ability.review.handoff import Sender, export_frame, export_records
from sales_ability.review.oversight import oversight
from sales_ability.review.requisitions import (
    BAND_TEXT,
    BANDS,
    PAGE_SIZE,
    find_requisition,
    may_open,
    pool,
    requisitions_for,
)
from sales_ability.serving.run_report import CAVEAT, INTERVAL_NOTE, interval_text
from sales_ability.traits import TRAITS

COOKIE = "sa_review"
SIGN_IN_DELAY_S = 0.25  # a failed sign-in from an address waits this long, doubled per recent failure (at most 5 s)
APPLICANT_ACTIONS = ("applicant.view", "answer.played", "decision", "explanation")


class ReviewSettings(BaseModel):
    """How the workspace runs (``review serve`` fills it from its options and the review settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_every_s: float = Field(5.0, gt=0)
    cookie_secure: bool = True
    coverage: str = "90%"  # the intervals' nominal coverage, as the page states it


def _media_type(path: Path) -> str:
    return {".webm": "video/webm", ".mp4": "video/mp4", ".mkv": "video/x-matroska", ".mov": "video/quicktime"}.get(
        path.suffix.lower(), "application/octet-stream")


def create_app(config: ReviewSettings) -> FastAPI:
    """The workspace over the results database at ``config.database_url``."""
    url = config.database_url
    db.engine(url)  # the schema checked (or created) before the first request
    sender = Sender(url, config.webhook_url, config.webhook_secret, config.webhook_every_s)
    failures: dict[str, list[float]] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        sender.start()
        try:
            yield
        finally:
            sender.stop()

    app = FastAPI(title="sales-ability review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(SecurityHeaders, docs_prefix=None)
    static = resources.files("sales_ability.review").joinpath("static")
    templates = resources.files("sales_ability").joinpath("templates")

    def page(template: str, session: Session | None, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(render_page(template, session=session, **context), status_code=status,
                            headers={"Cache-Control": "no-store"})

    def current(request: Request) -> Session:
        session = session_for(url, request.cookies.get(COOKIE))
        if session is None:
            raise HTTPException(401, "sign in first")
        return session

    def check_csrf(session: Session, token: str | None) -> None:
        if not token or not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
            raise HTTPException(403, "the form's CSRF token does not match this session: reload the page")

    def opened(session: Session, requisition_id: str):
        requisition = find_requisition(url, requisition_id)
        if requisition is None:
            raise HTTPException(404, "no such requisition")
        if not may_open(url, session.username, session.role, requisition_id):
            raise HTTPException(403, "this requisition is not assigned to you")
        return requisition

    def applicant_row(requisition, applicant_id: str, version: str | None):
        shown = pool(url, requisition, version)
        rows = shown.rows[shown.rows["applicant_id"] == applicant_id]
        if rows.empty:  # another requisition's applicant, or one not scored: the same answer, nothing told
            raise HTTPException(404, "no such applicant in this requisition")
        return shown, rows.iloc[0].to_dict()

    def log(session: Session, action: str, requisition_id=None, applicant_id=None, model_version=None, detail=None) -> None:
        with db.engine(url).begin() as conn:
            log_event(conn, session.username, action, requisition_id, applicant_id, model_version, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 401 and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/signin", status_code=303)
        return JSONResponse({"detail": err.detail}, status_code=err.status_code, headers=err.headers)

    @app.get("/static/report.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(templates.joinpath("report.css").read_text(), media_type="text/css")

    @app.get("/static/review.js", include_in_schema=False)
    def script() -> Response:
        return Response(static.joinpath("review.js").read_text(), media_type="text/javascript")

    @app.get("/signin", response_class=HTMLResponse)
    def signin_page() -> HTMLResponse:
        return page("review_signin.html", None)

    @app.post("/signin")
    async def signin(request: Request, username: str = Form(""), password: str = Form("")) -> Response:
        address = request.client.host if request.client else "unknown"
        now_s = time.monotonic()
        recent = [t for t in failures.get(address, []) if now_s - t < 600]
        try:
            token, session = await asyncio.to_thread(sign_in, url, username.strip(), password)
        except SignInRefused as err:
            failures[address] = [*recent, now_s]
            await asyncio.sleep(min(5.0, SIGN_IN_DELAY_S * 2 ** len(recent)))
            with db.engine(url).begin() as conn:
                log_event(conn, username.strip()[:64] or "?", "sign_in_refused", detail={"locked": err.locked})
            return page("review_signin.html", None, status=429 if err.locked else 401, error=str(err))
        failures.pop(address, None)
        log(session, "sign_in")
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=config.cookie_secure,
                          max_age=int((session.expires_at - datetime.now(UTC)).total_seconds()), path="/")
        return answer

    @app.post("/signout")
    def signout(request: Request, csrf_token: str = Form("")) -> Response:
        session = current(request)
        check_csrf(session, csrf_token)
        log(session, "sign_out")
        sign_out(url, request.cookies.get(COOKIE))
        answer = RedirectResponse("/signin", status_code=303)
        answer.delete_cookie(COOKIE, path="/")
        return answer

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        session = current(request)
        return page("review_home.html", session, requisitions=requisitions_for(url, session.username, session.role))

    @app.get("/requisitions/{requisition_id}", response_class=HTMLResponse)
    def requisition_page(request: Request, requisition_id: str, version: str | None = None, band: str = "",
                         decision: str = "", page_number: int = Query(1, alias="page")) -> HTMLResponse:
        session = current(request)
        requisition = opened(session, requisition_id)
        shown = pool(url, requisition, version or None)
        rows = shown.rows
        if band in BANDS:
            rows = rows[rows["band"] == band]
        if decision == "undecided":
            rows = rows[rows["decision"].isna()]
        elif decision in DECISIONS:
            rows = rows[rows["decision"] == decision]
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        page_number = min(max(1, page_number), pages)
        part = rows.iloc[(page_number - 1) * PAGE_SIZE: page_number * PAGE_SIZE].to_dict("records")
        for a in part:
            a["score_text"] = interval_text(a["sales_score"], a["sales_score_low"], a["sales_score_high"])
            a["decision"] = a["decision"] if isinstance(a.get("decision"), str) else None
        log(session, "requisition.view", requisition_id, model_version=shown.model_version,
            detail={"band": band or None, "decision": decision or None, "page": page_number, "shown": len(part)})
        return page("review_requisition.html", session, req=requisition, pool=shown, rows=part, bands=BANDS,
                    band_text=BAND_TEXT, band=band, decision=decision, decisions=DECISIONS, reasons=REASONS,
                    page=page_number, pages=pages, caveat=CAVEAT,
                    query=urlencode({"version": shown.model_version or "", "band": band, "decision": decision}))

    def answer_files(applicant_id: str) -> dict[int, Path]:
        with db.engine(url).connect() as conn:
            sources = [r.source for r in conn.execute(select(db.videos.c.source).where(
                db.videos.c.applicant_id == applicant_id, db.videos.c.outcome == "scored"))]
        found = {}
        for source in sorted(sources):
            number = answer_number(source)
            if number is not None and Path(source).is_file():
                found.setdefault(number, Path(source))
        return dict(sorted(found.items()))

    @app.get("/requisitions/{requisition_id}/applicants/{applicant_id}", response_class=HTMLResponse)
    def applicant(request: Request, requisition_id: str, applicant_id: str, version: str | None = None) -> HTMLResponse:
        return applicant_page(current(request), requisition_id, applicant_id, version or None)

    def applicant_page(session: Session, requisition_id: str, applicant_id: str, version: str | None,
                       error: str | None = None, status: int = 200) -> HTMLResponse:
        requisition = opened(session, requisition_id)
        shown, a = applicant_row(requisition, applicant_id, version or None)
        a["score_text"] = interval_text(a["sales_score"], a["sales_score_low"], a["sales_score_high"])
        with db.engine(url).connect() as conn:
            full = conn.execute(select(db.applicants).where(db.applicants.c.applicant_id == applicant_id,
                                                            db.applicants.c.model_version == a["model_version"])).first()
            strips = [(r.clip_id, base64.b64encode(r.strip_png).decode()) for r in conn.execute(
                select(db.segments.c.clip_id, db.segments.c.strip_png).where(
                    db.segments.c.applicant_id == applicant_id, db.segments.c.model_version == a["model_version"])
                .order_by(db.segments.c.clip_id)) if r.strip_png]
            history = conn.execute(select(db.decisions).where(db.decisions.c.applicant_id == applicant_id,
                                                              db.decisions.c.requisition_id == requisition_id)
                                   .order_by(db.decisions.c.id)).fetchall()
        a = {**full._asdict(), **a}
        answers = [(n, QUESTIONS[n - 1] if 0 < n <= len(QUESTIONS) else "") for n in answer_files(applicant_id)]
        log(session, "applicant.view", requisition_id, applicant_id, a["model_version"])
        return page("review_applicant.html", session, status=status, req=requisition, a=a, answers=answers, strips=strips,
                    history=history, traits=TRAITS, band_text=BAND_TEXT, decisions=DECISIONS, reasons=REASONS,
                    caveat=CAVEAT, interval_note=INTERVAL_NOTE.format(coverage=config.coverage), limits=LABEL_CAVEATS,
                    base=f"/requisitions/{requisition_id}/applicants/{applicant_id}", error=error)

    @app.get("/requisitions/{requisition_id}/applicants/{applicant_id}/answers/{number}")
    def answer(request: Request, requisition_id: str, applicant_id: str, number: int) -> FileResponse:
        session = current(request)
        applicant_row(opened(session, requisition_id), applicant_id, None)
        path = answer_files(applicant_id).get(number)
        if path is None:
            raise HTTPException(404, "this answer's recording is not kept")
        # FileResponse answers Range requests with 206 and Content-Range: the browser seeks without a full download
        return FileResponse(path, media_type=_media_type(path), headers={"Cache-Control": "private, no-store"})

    @app.post("/requisitions/{requisition_id}/applicants/{applicant_id}/answers/{number}/played")
    def played(request: Request, requisition_id: str, applicant_id: str, number: int) -> dict:
        session = current(request)
        check_csrf(session, request.headers.get("x-csrf-token"))
        _, a = applicant_row(opened(session, requisition_id), applicant_id, None)
        if number not in answer_files(applicant_id):
            raise HTTPException(404, "no such answer")
        log(session, "answer.played", requisition_id, applicant_id, a["model_version"], {"answer": number})
        return {"ok": True}

    @app.post("/requisitions/{requisition_id}/applicants/{applicant_id}/decision")
    def decide(request: Request, requisition_id: str, applicant_id: str, csrf_token: str = Form(""),
               decision: str = Form(""), reason: str = Form(""), note: str = Form(""), version: str = Form("")) -> Response:
        session = current(request)
        check_csrf(session, csrf_token)
        requisition = opened(session, requisition_id)
        if not session.can_decide():
            raise HTTPException(403, f"{session.role}s do not record decisions")
        try:  # record_decision reads the pool and refuses an applicant not in it; the page then answers 404
            record_decision(url, session, requisition, applicant_id, decision, reason, note, version or None)
        except DecisionError as err:
            return applicant_page(session, requisition_id, applicant_id, version or None, error=str(err), status=422)
        return RedirectResponse(f"/requisitions/{requisition_id}?version={version}", status_code=303)

    @app.get("/requisitions/{requisition_id}/applicants/{applicant_id}/explanation", response_class=HTMLResponse)
    def explanation(request: Request, requisition_id: str, applicant_id: str) -> HTMLResponse:
        session = current(request)
        requisition = opened(session, requisition_id)
        _, a = applicant_row(requisition, applicant_id, None)
        log(session, "explanation", requisition_id, applicant_id, a["model_version"])
        return page("review_explanation.html", None, req=requisition, a=a, when=datetime.now(UTC).strftime("%Y-%m-%d"))

    @app.get("/requisitions/{requisition_id}/export.{kind}")
    def export(request: Request, requisition_id: str, kind: str) -> Response:
        session = current(request)
        requisition = opened(session, requisition_id)
        if kind not in ("csv", "json"):
            raise HTTPException(404, "exports are csv or json")
        frame = export_frame(url, requisition)
        log(session, "export", requisition_id, detail={"format": kind, "applicants": len(frame)})
        disposition = {"Content-Disposition": f'attachment; filename="{requisition_id}.{kind}"', "Cache-Control": "no-store"}
        if kind == "json":
            return JSONResponse(export_records(frame, requisition), headers=disposition)
        return Response(neutralised(frame).to_csv(index=False), media_type="text/csv", headers=disposition)

    def auditor(request: Request) -> Session:
        session = current(request)
        if not session.can_audit():
            raise HTTPException(403, "the event log and oversight figures are for auditors and admins")
        return session

    @app.get("/audit/events", response_class=HTMLResponse)
    def events_page(request: Request, page_number: int = Query(1, alias="page")) -> HTMLResponse:
        session = auditor(request)
        events, total = read_events(url, max(1, page_number))
        log(session, "events.view", detail={"page": page_number})
        return page("review_events.html", session, events=events.to_dict("records"), total=total, page=max(1, page_number),
                    page_size=EVENTS_PAGE, applicant_actions=APPLICANT_ACTIONS)

    @app.get("/audit/oversight", response_class=HTMLResponse)
    def oversight_page(request: Request) -> HTMLResponse:
        session = auditor(request)
        log(session, "oversight.view")
        return page("review_oversight.html", session, figures=oversight(url))

    return app
