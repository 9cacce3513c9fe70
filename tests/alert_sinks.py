"""Loopback sinks for the DAGs' failure notices: a webhook and an SMTP server (the DAG tests and the stack
test use them)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer


@contextmanager
def webhook_sink() -> Iterator[tuple[str, list[dict]]]:
    """(URL, the JSON bodies posted to it so far)."""
    posts: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", posts
    finally:
        server.shutdown()


@contextmanager
def smtp_sink() -> Iterator[tuple[str, list]]:
    """(``host:port``, the e-mails received so far as ``email.message.Message``)."""
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    mails: list = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            mails.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd's controller needs a concrete port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"127.0.0.1:{port}", mails
    finally:
        controller.stop()
