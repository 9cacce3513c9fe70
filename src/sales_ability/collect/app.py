"""FastAPI app of the collection website (``sales-ability collect serve``).

Hardening, each item tested in ``tests/collect``:
- nothing is written before consent (the consent creates the participant), and a complete record is locked;
- uploads stream to a temporary file in the participant folder while their size is counted (413 the moment
  it passes the limit); consent, lock and question number are checked before the body is read; the video
  check (every frame decoded, at least ``n_frames`` of them, nothing after the end) runs in a worker thread;
  the file is renamed into place only after it passed;
- strict JSON: consent is ``true``, IPIP answers are integers 1..5, unknown fields are refused;
- security headers on every response, API docs off unless asked for, the admin needs ``Bearer``, and
  participant creation is rate-limited per client address.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sales_ability.collect.storage import (
    PROFILE_CHOICES,
    QUESTIONS,
    ParticipantError,
    ParticipantStore,
)
from sales_ability.collect.video_check import RecordingError, check_recording
from sales_ability.config import FeaturizeParams
from sales_ability.data.video import remux
from sales_ability.data.ipip50 import ITEM_COLUMNS, load_key, score_answers
from sales_ability.errors import IPIPError

ADMIN_TOKEN_ENV = "SALES_ABILITY_ADMIN_TOKEN"
DEFAULT_MAX_UPLOAD = 100 * 1024 * 1024
DEFAULT_RETENTION_DAYS = 30.0
MIN_FRAMES = FeaturizeParams().n_frames  # featurize samples this many frames: a shorter recording is useless
# Guidance for the recorder: a suggested answer length, a floor that yields MIN_FRAMES at 15 fps and more, and
# a ceiling; the page also stops on its own before the size limit.
SUGGESTED_SECONDS = (30, 90)
MIN_SECONDS = 6
MAX_SECONDS = 180

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                                "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()",
}
# Swagger UI (only with --docs) loads its script and styles from a CDN.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "frame-ancestors 'none'")


class SecurityHeaders:
    """Pure ASGI middleware (a ``BaseHTTPMiddleware`` would sit between the upload stream and the endpoint)."""

    def __init__(self, app: ASGIApp, docs_prefix: str | None) -> None:
        self.app = app
        self.docs_prefix = docs_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(SECURITY_HEADERS)
        if self.docs_prefix and scope["path"].startswith(self.docs_prefix):
            headers["Content-Security-Policy"] = DOCS_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *[(k.lower().encode(), v.encode()) for k, v in headers.items()]]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RateLimiter:
    """A token bucket per client address: ``burst`` at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when a token was taken, else the seconds until one is free."""
        with self._lock:
            t = time.monotonic()
            tokens, last = self._buckets.get(client, (float(self.burst), t))
            tokens = min(float(self.burst), tokens + (t - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, t)
                return 0.0
            self._buckets[client] = (tokens, t)
            if len(self._buckets) > 10_000:  # forget idle clients (their buckets are full again anyway)
                self._buckets = {k: v for k, v in self._buckets.items() if t - v[1] < self.burst / self.rate}
            return (1 - tokens) / self.rate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewParticipant(_Strict):
    agree: StrictBool
    profile: dict[StrictStr, StrictStr] = {}


class ProfileBody(_Strict):
    profile: dict[StrictStr, StrictStr]


class IPIPBody(_Strict):
    answers: dict[StrictStr, Any]


def strict_ipip_answers(answers: dict[str, Any]) -> dict[str, int]:
    """Every item once, each a JSON integer 1..5 (not a boolean, string or float)."""
    unknown = sorted(set(answers) - set(ITEM_COLUMNS))
    if unknown:
        raise ParticipantError(422, f"unknown items: {', '.join(unknown[:5])}")
    for item in ITEM_COLUMNS:
        if item not in answers:
            raise ParticipantError(422, f"{item} is missing")
        value = answers[item]
        if type(value) is not int or not 1 <= value <= 5:
            shown = repr(value) if len(repr(value)) <= 12 else f"{repr(value)[:12]}…"
            raise ParticipantError(422, f"{item} must be an integer 1..5 (got {shown})")
    return {item: answers[item] for item in ITEM_COLUMNS}


def create_app(
    data_dir: str | Path,
    export_dir: str | Path | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    docs: bool = False,
    retention_days: float = DEFAULT_RETENTION_DAYS,
    create_per_minute: float = 10.0,
    create_burst: int = 5,
    min_frames: int = MIN_FRAMES,
    mode: str = "research",
    inbox: str | Path | None = None,
    min_seconds: float = MIN_SECONDS,
    on_withdraw: Callable[[str], object] | None = None,
) -> FastAPI:
    """The website and its API over the participant folders in ``data_dir``.

    Args:
        data_dir: where participant folders are written.
        export_dir: the collected-dataset folder (``data/raw/collected``) the admin export fills.
        max_upload_bytes: the largest answer recording accepted.
        docs: serve the API docs at ``/api/docs`` (off by default).
        retention_days: unfinished participants older than this are listed as ``stale`` (``collect purge``).
        create_per_minute, create_burst: participant creations allowed per client address.
        min_frames: the fewest frames a recording must decode to.
        mode: ``research`` (answers and the IPIP-50, for training) or ``screening`` (a job applicant's answers;
            completion publishes the applicant folder into ``inbox`` for the batch scoring DAG).
        inbox: the scoring inbox (screening mode).
        min_seconds: the page enables Stop after this long (enough for ``min_frames`` at a webcam's rate).
        on_withdraw: called with the participant id after a withdrawal removed the site's own files (the
            screening CLI erases the applicant from the results database, inbox, outbox and reports).
    """
    store = ParticipantStore(data_dir, mode, inbox)
    limiter = RateLimiter(create_per_minute, create_burst)
    app = FastAPI(title="sales-ability data collection", docs_url="/api/docs" if docs else None, redoc_url=None,
                  openapi_url="/api/openapi.json" if docs else None)
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
            "mode": mode,
            "limits": {"max_upload_bytes": max_upload_bytes, "min_seconds": min_seconds, "max_seconds": MAX_SECONDS,
                       "suggested_seconds": list(SUGGESTED_SECONDS)},
        }

    @app.post("/api/participants", status_code=201)
    def create_participant(body: NewParticipant, request: Request) -> dict:
        wait = limiter.take(request.client.host if request.client else "unknown")
        if wait:
            raise HTTPException(429, f"too many new participants from this address; try again in {wait:.0f} s",
                                headers={"Retry-After": str(max(1, round(wait)))})
        pid = store.create(body.agree, request.headers.get("user-agent", ""), dict(body.profile))
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
        size = 0
        try:
            with received.open("wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload_bytes:
                        raise ParticipantError(413, f"recording too large: over {max_upload_bytes} bytes")
                    fh.write(chunk)
            try:
                recording = await run_in_threadpool(check_recording, received, min_frames)
            except RecordingError as err:
                raise ParticipantError(err.status, str(err)) from None
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

    @app.post("/api/participants/{participant_id}/complete")
    def complete(participant_id: str) -> dict:
        return store.complete(participant_id)

    def admin(authorization: str | None = Header(default=None)) -> None:
        token = os.environ.get(ADMIN_TOKEN_ENV)
        if not token:
            raise HTTPException(503, f"admin is disabled: set {ADMIN_TOKEN_ENV}")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "admin token required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/api/admin/participants", dependencies=[Depends(admin)])
    def list_participants() -> dict:
        return {"participants": store.list(retention_days), "retention_days": retention_days}

    @app.post("/api/admin/export", dependencies=[Depends(admin)])
    def export() -> dict:
        if export_dir is None:
            raise HTTPException(409, "no export folder configured (--export-dir)")
        return store.export(export_dir)

    @app.delete("/api/admin/participants/{participant_id}", dependencies=[Depends(admin)])
    async def delete(participant_id: str) -> dict:
        store.delete(participant_id, Path(export_dir) if export_dir else None)
        if on_withdraw is not None:
            await run_in_threadpool(on_withdraw, participant_id)
        return {"deleted": participant_id}

    return app
