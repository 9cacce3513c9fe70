"""How the website runs under uvicorn: proxy headers trusted only where told, a header timeout, and an access
log without participant codes."""

from __future__ import annotations

import re

from fastapi import FastAPI

ID_IN_PATH = re.compile(r"(?<=/)[A-Za-z0-9_-]{16}(?=/|$|\?)")  # a participant code inside a URL path


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
