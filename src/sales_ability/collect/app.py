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
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
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
    SELF_REPORT_CHOICES,
    ParticipantError,
    ParticipantStore,
)
from sales_ability.collect.video_check import RecordingError, RecordingLimits, check_recording
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
MIN_ADMIN_TOKEN = 32
EXAMPLE_ADMIN_TOKEN = "change-me-collection-admin-token"  # docker/.env.example's placeholder
ADMIN_FAILURES = 10  # failed admin attempts from one address within ADMIN_WINDOW_S before it is refused
ADMIN_WINDOW_S = 600.0
ID_IN_PATH = re.compile(r"(?<=/)[A-Za-z0-9_-]{16}(?=/|$|\?)")  # a participant code inside a URL path


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


class BodyTimeout(Exception):
    """The client stopped sending the body it announced."""


class RequestBounds:
    """Pure ASGI middleware bounding every request before the app sees it: the participant-creation rate
    limit (before its body is read), a size limit for every body except an answer upload (413), and a body
    read timeout (408)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, max_json_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.limiter = limiter
        self.max_json_bytes = max_json_bytes
        self.body_timeout_s = body_timeout_s

    @staticmethod
    async def _reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            *[(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == "/api/participants":
            client = scope.get("client")
            wait = self.limiter.take(client[0] if client else "unknown")
            if wait:
                await self._reply(send, 429, f"too many new participants from this address; try again in {wait:.0f} s",
                                  {"Retry-After": str(max(1, round(wait)))})
                return
        upload = method == "PUT" and "/answers/" in path
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode()
        if not upload and declared.isdigit() and int(declared) > self.max_json_bytes:
            await self._reply(send, 413, f"request body too large: {declared} bytes, at most {self.max_json_bytes}")
            return
        started = False

        async def timed_receive() -> Message:
            try:
                return await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                raise BodyTimeout from None

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if upload:  # streamed to disk by the endpoint, each chunk under the timeout
                await self.app(scope, timed_receive, tracked_send)
                return
            # any other body is small: read it here, whole and bounded, then hand it to the app
            chunks, size, more = [], 0, True
            while more:
                message = await timed_receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
                if size > self.max_json_bytes:
                    await self._reply(send, 413, f"request body too large: more than {self.max_json_bytes} bytes")
                    return
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, tracked_send)
        except BodyTimeout:
            if not started:
                await self._reply(send, 408, f"the request body stalled for {self.body_timeout_s:g} s")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewParticipant(_Strict):
    agree: StrictBool
    profile: dict[StrictStr, StrictStr] = {}


class ProfileBody(_Strict):
    profile: dict[StrictStr, StrictStr]


class SelfReportBody(_Strict):
    sex: StrictStr = "prefer_not_to_say"
    race_ethnicity: StrictStr = "prefer_not_to_say"


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
    limits: RecordingLimits | None = None,
    max_checks: int = 2,
    max_json_bytes: int = 64 * 1024,
    body_timeout_s: float = 30.0,
    min_free_bytes: int | None = None,
    max_open_per_address: int = 3,
    admin_delay_s: float = 0.25,
    on_self_report: Callable[[str, dict], object] | None = None,
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
        limits: what a recording may be (picture size, duration, frame rate); see ``video_check``.
        max_checks: recordings checked at once; more are answered 503 with ``Retry-After``.
        max_json_bytes: the largest body of any request but an answer upload.
        body_timeout_s: a request body that sends nothing for this long is answered 408.
        min_free_bytes: free disk space an upload needs before it is accepted (default: twice the upload limit).
        max_open_per_address: unfinished participants one client address may hold at once.
        admin_delay_s: a failed admin attempt waits this long, doubled for each recent failure (at most 5 s).
        on_self_report: called with the participant id and the screening self-report (the CLI records it in the
            results database's ``self_reports`` table, for ``sales-ability audit``).

    Raises:
        ConfigurationError: the admin token (``SALES_ABILITY_ADMIN_TOKEN``) is short or the example's placeholder.
    """
    check_admin_token(os.environ.get(ADMIN_TOKEN_ENV))
    store = ParticipantStore(data_dir, mode, inbox)
    limiter = RateLimiter(create_per_minute, create_burst)
    limits = limits or RecordingLimits()
    checks = threading.BoundedSemaphore(max_checks)
    in_flight: set[tuple[str, int]] = set()
    in_flight_lock = threading.Lock()
    free_needed = 2 * max_upload_bytes if min_free_bytes is None else min_free_bytes
    opened: dict[str, list[str]] = {}  # client address -> participants it created
    admin_failures: dict[str, list[float]] = {}
    app = FastAPI(title="sales-ability data collection", docs_url="/api/docs" if docs else None, redoc_url=None,
                  openapi_url="/api/openapi.json" if docs else None)
    app.add_middleware(RequestBounds, limiter=limiter, max_json_bytes=max_json_bytes, body_timeout_s=body_timeout_s)
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
            "limits": {"max_upload_bytes": max_upload_bytes, "min_seconds": min_seconds, "max_seconds": MAX_SECONDS,
                       "suggested_seconds": list(SUGGESTED_SECONDS)},
        }

    @app.post("/api/participants", status_code=201)
    def create_participant(body: NewParticipant, request: Request) -> dict:
        # the rate limit ran before the body was read (RequestBounds)
        address = request.client.host if request.client else "unknown"
        with in_flight_lock:
            still_open = [p for p in opened.get(address, []) if (store.root / p).is_dir()
                          and store.status(store.root / p)["status"] != "complete"]
            if len(still_open) >= max_open_per_address:
                raise HTTPException(429, f"{len(still_open)} unfinished participations from this address: finish one first",
                                    headers={"Retry-After": "600"})
            pid = store.create(body.agree, dict(body.profile))
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
                recording = await run_in_threadpool(check_recording, received, min_frames, limits)
            except RecordingError as err:
                raise ParticipantError(err.status, str(err)) from None
            finally:
                checks.release()
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
        token = os.environ.get(ADMIN_TOKEN_ENV)
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
            await asyncio.sleep(min(5.0, admin_delay_s * 2 ** len(recent)))  # each failure answers more slowly
            raise HTTPException(401, "admin token required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/api/admin/participants", dependencies=[Depends(admin)])
    def list_participants() -> dict:
        return {"participants": store.list(retention_days), "retention_days": retention_days}

    @app.post("/api/admin/export", dependencies=[Depends(admin)])
    async def export() -> dict:
        if export_dir is None:
            raise HTTPException(409, "no export folder configured (--export-dir)")
        return await run_in_threadpool(store.export, export_dir)

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


class _RedactParticipantCodes:
    """A logging filter: participant codes in access-log lines become ``<code>`` (they outlive a withdrawal)."""

    def filter(self, record) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(ID_IN_PATH.sub("<code>", a) if isinstance(a, str) else a for a in record.args)
        return True


def server_config(app: FastAPI, host: str, port: int, forwarded_allow_ips: str | None = None,
                  header_timeout_s: float = 10.0):
    """The uvicorn configuration the website runs with: proxy headers trusted only from
    ``forwarded_allow_ips`` (none by default: ``X-Forwarded-For`` is ignored), a request whose headers do not
    complete within ``header_timeout_s`` closed, and an access log without participant codes."""
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG
    from uvicorn.protocols.http.h11_impl import H11Protocol

    import h11

    class HeaderTimeoutH11(H11Protocol):
        """Closes a connection whose request headers are not complete ``header_timeout_s`` after it opened
        (or after its last response): uvicorn has no header timeout of its own."""

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _headers_late(self) -> None:
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._header_timer.cancel()
            self._arm()

        def connection_lost(self, exc) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config.setdefault("filters", {})["redact"] = {"()": _RedactParticipantCodes}
    log_config["handlers"]["access"]["filters"] = ["redact"]
    return uvicorn.Config(app, host=host, port=port, http=HeaderTimeoutH11, log_config=log_config,
                          proxy_headers=bool(forwarded_allow_ips), forwarded_allow_ips=forwarded_allow_ips or "")
