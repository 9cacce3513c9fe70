"""FastAPI app of the collection website (``sales-ability collect serve``).

Hardening, each item tested in ``tests/collect``:
- nothing is written before consent (the consent creates the participant), and a complete record is locked;
- uploads stream to a temporary file in the participant folder while their size is counted (413 the moment
  it passes the limit); consent, lock and question number are checked before the body is read; the video
  check (every frame decoded, at least ``n_frames`` of them, nothing after the end) runs in a worker thread;
  the file is renamed into place only after it passed;
- strict JSON: consent is ``true``, IPIP answers are integers 1..5, unknown fields are refused;
- security headers on every response, API docs off unless asked for, the admin needs ``Bearer``, and
  participant creation is rate-limited per client address;
- bounded requests (``RequestBounds``): JSON bodies up to ``max_json_bytes``, the rate limit before any body
  is read, a body that stalls longer than ``body_timeout_s`` answered 408, a request whose headers do not
  arrive within ``header_timeout_s`` closed (``server_config``);
- bounded checks: the recording limits of ``video_check`` checked from the header and while decoding, at most
  ``max_checks`` at once (503 with ``Retry-After`` beyond), one upload per answer at a time (409), free disk
  space checked before an upload (507), at most ``max_open_per_address`` unfinished participants per address;
- an admin token of at least 32 characters and not the example's placeholder, refused at start; failed admin
  attempts answered more slowly, and refused for a while after ``ADMIN_FAILURES`` of them.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sales_ability.collect.middleware import RateLimiter, RequestBounds, SecurityHeaders
from sales_ability.collect.schemas import IPIPBody, NewParticipant, ProfileBody, SelfReportBody, strict_ipip_answers
from sales_ability.collect.storage import ParticipantError, ParticipantStore
from sales_ability.collect.video_check import RecordingError, RecordingLimits, check_recording
from sales_ability.config import FeaturizeParams
from sales_ability.data.applicant_folder import PROFILE_CHOICES, QUESTIONS, SELF_REPORT_CHOICES
from sales_ability.data.datasets import participant_problem
from sales_ability.data.ipip50 import load_key, score_answers
from sales_ability.data.segments import shortest_segment_seconds
from sales_ability.data.video import remux
from sales_ability.errors import IPIPError
from sales_ability.settings import settings

ADMIN_TOKEN_ENV = "SALES_ABILITY_ADMIN_TOKEN"
DEFAULT_MAX_UPLOAD = 100 * 1024 * 1024
DEFAULT_RETENTION_DAYS = 30.0
MIN_FRAMES = FeaturizeParams().n_frames  # featurize samples this many frames: a shorter recording is useless
# Guidance for the recorder: a suggested answer length, a floor and a ceiling; the page also stops on its own
# before the size limit. The floor is the shortest answer featurize scores (data/segments.py: 0.75 x the 15 s
# segments of training), so that no answer is seen at another frame density than training's.
SUGGESTED_SECONDS = (30, 90)
MIN_SECONDS = shortest_segment_seconds(FeaturizeParams())
STOP_SLACK_S = 1.0  # the page enables Stop this long after the floor: a recording starts a moment after the click
MAX_SECONDS = 180
MIN_ADMIN_TOKEN = 32
EXAMPLE_ADMIN_TOKEN = "change-me-collection-admin-token"  # docker/.env.example's placeholder
ADMIN_FAILURES = 10  # failed admin attempts from one address within ADMIN_WINDOW_S before it is refused
ADMIN_WINDOW_S = 600.0


class ConfigurationError(ValueError):
    """The website was configured in a way it refuses to start with."""


def check_admin_token(token: str | None) -> None:
    """Refuse a weak admin token at start (None: the admin API is disabled)."""
    if token is None:
        return
    if token.strip() == EXAMPLE_ADMIN_TOKEN or "change-me" in token:
        raise ConfigurationError(f"{ADMIN_TOKEN_ENV} is the example's placeholder: set a random token "
                                 "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if len(token) < MIN_ADMIN_TOKEN:
        raise ConfigurationError(f"{ADMIN_TOKEN_ENV} has {len(token)} characters; at least {MIN_ADMIN_TOKEN} are needed")

def _admin_token() -> str | None:
    token = settings().admin_token
    return token.get_secret_value() if token is not None else None


class WebsiteSettings(BaseModel):
    """How the website runs: one object instead of twenty parameters (``collect serve``'s options fill it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    export_dir: Path | None = None  # the collected-dataset folder (data/raw/collected) the admin export fills
    max_upload_bytes: int = Field(DEFAULT_MAX_UPLOAD, gt=0)  # the largest answer recording accepted
    docs: bool = False  # serve the API docs at /api/docs
    retention_days: float = Field(DEFAULT_RETENTION_DAYS, gt=0)  # unfinished participants older are `stale`
    create_per_minute: float = Field(10.0, ge=0)  # participant creations allowed per client address ...
    create_burst: int = Field(5, ge=1)  # ... and at once
    min_frames: int = Field(MIN_FRAMES, ge=1)  # the fewest frames a recording must decode to
    # research: answers and the IPIP-50, for training; screening: a job applicant's answers, published into
    # `inbox` on completion for the batch scoring DAG
    mode: str = Field("research", pattern="^(research|screening)$")
    inbox: Path | None = None
    min_seconds: float = Field(MIN_SECONDS, gt=0)  # shorter answers are refused at upload, and the page says so
    limits: RecordingLimits = RecordingLimits()  # picture size, duration, frame rate (video_check)
    max_checks: int = Field(2, ge=1)  # recordings checked at once; more are answered 503 with Retry-After
    max_json_bytes: int = Field(64 * 1024, gt=0)  # the largest body of any request but an answer upload
    body_timeout_s: float = Field(30.0, gt=0)  # a request body that sends nothing for this long: 408
    min_free_bytes: int | None = None  # free disk an upload needs (default: twice the upload limit)
    max_open_per_address: int = Field(3, ge=1)  # unfinished participants one client address may hold
    admin_delay_s: float = Field(0.25, ge=0)  # a failed admin attempt waits this long, doubled per recent failure


def create_app(
    data_dir: str | Path,
    settings: WebsiteSettings | None = None,
    on_withdraw: Callable[[str], object] | None = None,
    on_self_report: Callable[[str, dict], object] | None = None,
    on_apply: Callable[[str, dict], object] | None = None,
) -> FastAPI:
    """The website and its API over the participant folders in ``data_dir``, run as ``settings`` say.

    Args:
        on_withdraw: called with the participant id after a withdrawal removed the site's own files (the
            screening CLI erases the applicant from the results database, inbox, outbox and reports).
        on_self_report: called with the participant id and the screening self-report (the CLI records it in the
            results database's ``self_reports`` table, for ``sales-ability audit``).
        on_apply: called with the participant id and ``{"requisition", "reference"}`` when a screening link named
            a requisition (the CLI records the application for the review workspace); an error it raises (a job
            that is not open) removes the new folder and answers 422.

    Raises:
        ConfigurationError: the admin token (``SALES_ABILITY_ADMIN_TOKEN``) is short or the example's placeholder.
    """
    settings = settings or WebsiteSettings()
    export_dir, max_upload_bytes, mode = settings.export_dir, settings.max_upload_bytes, settings.mode
    min_seconds, retention_days, limits = settings.min_seconds, settings.retention_days, settings.limits
    check_admin_token(_admin_token())
    store = ParticipantStore(data_dir, mode, settings.inbox)
    limiter = RateLimiter(settings.create_per_minute, settings.create_burst)
    checks = threading.BoundedSemaphore(settings.max_checks)
    in_flight: set[tuple[str, int]] = set()
    in_flight_lock = threading.Lock()
    free_needed = 2 * max_upload_bytes if settings.min_free_bytes is None else settings.min_free_bytes
    opened: dict[str, list[str]] = {}  # client address -> participants it created
    admin_failures: dict[str, list[float]] = {}
    docs = settings.docs
    app = FastAPI(title="sales-ability data collection", docs_url="/api/docs" if docs else None, redoc_url=None,
                  openapi_url="/api/openapi.json" if docs else None)
    app.add_middleware(RequestBounds, limiter=limiter, max_json_bytes=settings.max_json_bytes,
                       body_timeout_s=settings.body_timeout_s)
    app.add_middleware(SecurityHeaders, docs_prefix="/api/docs" if docs else None)
    static = resources.files("sales_ability.collect").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(ParticipantError)
    async def participant_error(_: Request, err: ParticipantError) -> JSONResponse:
        return JSONResponse(status_code=err.status, content={"detail": str(err)})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, err: RequestValidationError) -> JSONResponse:
        """One readable line naming the field (``agree: Input should be a valid boolean``)."""
        problems = ["/".join(str(p) for p in e["loc"] if p != "body") + f": {e['msg']}" for e in err.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(problems)})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return static.joinpath("index.html").read_text()

    @app.get("/api/questions")
    def questions() -> dict:
        return {
            "questions": list(QUESTIONS),
            "ipip50": [{"item": i.column, "text": i.text} for i in load_key()],
            "scale": ["Very inaccurate", "Moderately inaccurate", "Neither", "Moderately accurate", "Very accurate"],
            "profile": {k: list(v) for k, v in PROFILE_CHOICES.items()},
            "self_report": {k: list(v) for k, v in SELF_REPORT_CHOICES.items()},
            "mode": mode,
            "limits": {"max_upload_bytes": max_upload_bytes, "min_seconds": min_seconds,
                       "stop_after_seconds": min_seconds + STOP_SLACK_S, "max_seconds": MAX_SECONDS,
                       "suggested_seconds": list(SUGGESTED_SECONDS)},
        }

    @app.post("/api/participants", status_code=201)
    def create_participant(body: NewParticipant, request: Request) -> dict:
        # the rate limit ran before the body was read (RequestBounds)
        address = request.client.host if request.client else "unknown"
        with in_flight_lock:
            still_open = [p for p in opened.get(address, []) if (store.root / p).is_dir()
                          and store.status(store.root / p)["status"] != "complete"]
            if len(still_open) >= settings.max_open_per_address:
                raise HTTPException(429, f"{len(still_open)} unfinished participations from this address: finish one first",
                                    headers={"Retry-After": "600"})
            if body.reference and not body.requisition:
                raise ParticipantError(422, "a tracking-system reference needs its requisition")
            application = {"requisition": body.requisition, "reference": body.reference} if body.requisition else None
            pid = store.create(body.agree, dict(body.profile), application)
            if application and on_apply is not None:
                try:
                    on_apply(pid, application)
                except Exception as err:  # noqa: BLE001 - nothing is kept of a participation that cannot be filed
                    shutil.rmtree(store.root / pid, ignore_errors=True)
                    raise ParticipantError(422, f"this screening link cannot be used: {err}") from None
            opened[address] = [*still_open, pid]
        return {"participant_id": pid}

    @app.get("/api/participants/{participant_id}")
    def progress(participant_id: str) -> dict:
        """What a reloaded page needs to resume: which answers are in, the questionnaire, completion."""
        status = store.status(store.folder(participant_id))
        return {k: status[k] for k in ("status", "answers", "questionnaire")}

    @app.post("/api/participants/{participant_id}/profile")
    def profile(participant_id: str, body: ProfileBody) -> dict:
        store.save_profile(participant_id, dict(body.profile))
        return {"ok": True}

    @app.put("/api/participants/{participant_id}/answers/{number}")
    async def upload_answer(participant_id: str, number: int, request: Request) -> dict:
        received = store.upload_path(participant_id, number)  # 400/403/404/409 before any byte is read
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload_bytes:
            raise ParticipantError(413, f"recording too large: {declared} bytes, the limit is {max_upload_bytes}")
        if shutil.disk_usage(store.root).free < free_needed:
            raise ParticipantError(507, "the server is short of disk space; please try again later")
        key = (participant_id, number)
        with in_flight_lock:
            if key in in_flight:
                raise ParticipantError(409, f"answer {number} is already being uploaded; wait for that upload to finish")
            in_flight.add(key)
        try:
            return await _receive_answer(participant_id, number, request, received)
        finally:
            with in_flight_lock:
                in_flight.discard(key)

    async def _receive_answer(participant_id: str, number: int, request: Request, received: Path) -> dict:
        size = 0
        try:
            with received.open("wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload_bytes:
                        raise ParticipantError(413, f"recording too large: over {max_upload_bytes} bytes")
                    fh.write(chunk)
            if not checks.acquire(blocking=False):
                raise HTTPException(503, "too many recordings are being checked; try again in a few seconds",
                                    headers={"Retry-After": "5"})
            try:
                recording = await run_in_threadpool(check_recording, received, settings.min_frames, limits)
            except RecordingError as err:
                raise ParticipantError(err.status, str(err)) from None
            finally:
                checks.release()
            if recording.seconds < settings.min_seconds:
                raise ParticipantError(422, f"the recording lasts {recording.seconds:.1f} s; answers shorter than "
                                            f"{settings.min_seconds:g} s cannot be scored: please record a longer answer")
            # Chrome's WebM has no Duration and no Cues: remux (no re-encoding) so that every reader gets a
            # duration and can seek; the frames and their times stay as recorded.
            fixed = received.with_name(received.name + ".remux")
            await run_in_threadpool(remux, received, fixed)
            os.replace(fixed, received)
            path = await run_in_threadpool(store.place_answer, participant_id, number, received, recording.extension)
        finally:
            received.unlink(missing_ok=True)
            received.with_name(received.name + ".remux").unlink(missing_ok=True)
        return {"ok": True, "answer": number, "bytes": size, "frames": recording.frames, "file": path.name}

    @app.post("/api/participants/{participant_id}/ipip50")
    def submit_ipip(participant_id: str, body: IPIPBody) -> dict:
        store.open_folder(participant_id)
        answers = strict_ipip_answers(body.answers)
        try:
            scores = score_answers(answers, participant=participant_id)
        except IPIPError as err:
            raise ParticipantError(422, str(err)) from None
        store.save_ipip(participant_id, answers, scores)
        return {"ok": True}

    @app.post("/api/participants/{participant_id}/self_report")
    def self_report(participant_id: str, body: SelfReportBody) -> dict:
        """Screening only, optional, after the answers: sex and race/ethnicity for the bias audit."""
        report = body.model_dump()
        store.save_self_report(participant_id, report, then=on_self_report)  # under the participant's lock
        return {"ok": True}

    @app.post("/api/participants/{participant_id}/complete")
    def complete(participant_id: str) -> dict:
        return store.complete(participant_id)

    async def admin(request: Request, authorization: str | None = Header(default=None)) -> None:
        token = _admin_token()
        if not token:
            raise HTTPException(503, f"admin is disabled: set {ADMIN_TOKEN_ENV}")
        address = request.client.host if request.client else "unknown"
        now_s = time.monotonic()
        recent = [t for t in admin_failures.get(address, []) if now_s - t < ADMIN_WINDOW_S]
        if len(recent) >= ADMIN_FAILURES:
            raise HTTPException(429, f"{len(recent)} failed admin attempts from this address; try again later",
                                headers={"Retry-After": str(int(ADMIN_WINDOW_S - (now_s - recent[0])) + 1)})
        scheme, _, given = (authorization or "").partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            admin_failures[address] = [*recent, now_s]
            await asyncio.sleep(min(5.0, settings.admin_delay_s * 2 ** len(recent)))  # each failure answers more slowly
            raise HTTPException(401, "admin token required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/api/admin/participants", dependencies=[Depends(admin)])
    def list_participants() -> dict:
        return {"participants": store.list(retention_days), "retention_days": retention_days}

    @app.post("/api/admin/export", dependencies=[Depends(admin)])
    async def export() -> dict:
        if export_dir is None:
            raise HTTPException(409, "no export folder configured (--export-dir)")
        return await run_in_threadpool(store.export, export_dir, participant_problem)  # the ingest's rule

    @app.delete("/api/admin/participants/{participant_id}", dependencies=[Depends(admin)])
    async def delete(participant_id: str) -> dict:
        try:
            await run_in_threadpool(store.delete, participant_id, Path(export_dir) if export_dir else None, on_withdraw)
        except ParticipantError:
            raise
        except Exception as err:  # noqa: BLE001 - the files are gone; the database part is retried by the caller
            logging.getLogger(__name__).error("withdrawal: the results database could not be updated (%s); "
                                              "a retry of the same request completes it", type(err).__name__)
            raise HTTPException(503, "withdrawal recorded and the files removed; the results database could not be "
                                     "updated yet: send the same request again to complete it",
                                headers={"Retry-After": "30"}) from None
        return {"deleted": participant_id}

    return app


