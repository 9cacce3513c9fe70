"""The website's ASGI hardening: security headers on every response (a looser CSP for the API docs only), a
per-address rate limit on participant creation, and bounded requests (JSON size, a body that stalls)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
