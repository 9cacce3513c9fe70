"""A loopback tracking system for the webhook tests and the browser test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sales_ability.review.handoff import verify_signature

SECRET = "a-shared-webhook-secret-of-the-tests-0123"


class Receiver:
    """A loopback tracking system: refuses the first ``fail_first`` posts with 503, keeps each event id once, and
    refuses a bad signature with 401 (as a real receiver must)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first, self.posts, self.events, self.refused = fail_first, 0, {}, 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                if not verify_signature(SECRET, self.headers["X-Sales-Ability-Timestamp"], body,
                                        self.headers["X-Sales-Ability-Signature"]):
                    receiver.refused += 1
                    status = 401
                elif receiver.posts <= receiver.fail_first:
                    status = 503
                else:
                    receiver.events.setdefault(self.headers["X-Sales-Ability-Event-Id"], json.loads(body))
                    status = 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
