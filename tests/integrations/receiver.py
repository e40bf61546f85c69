"""A real local HTTP receiver of webhooks that verifies every delivery with the
``standardwebhooks`` package, as a receiver of the service's webhooks would, and keeps what it
got; it can answer with an error, a redirect or slowly, and go down and come back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

# (path, event body) -> the status to answer, or None for 200.
Answer = Callable[[str, dict[str, Any]], int | None]


@dataclass
class Received:
    webhook_id: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """Serves on 127.0.0.1 (a port of its own) until closed; ``stop`` and ``start`` keep the
    port, so a webhook's URL stays right across an outage."""

    secret: str = ""
    answer: Answer | None = None
    delay: float = 0.0
    port: int = 0
    received: list[Received] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every path asked for, verified or not
    refused: list[str] = field(default_factory=list)  # deliveries whose signature failed
    refusals: list[str] = field(default_factory=list)  # why, and the timestamp they carried
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if len(raw) < length:  # the sender died mid-request (a killed worker)
                    self.close_connection = True
                    return
                status = receiver.take(self.path, raw, dict(self.headers.items()))
                if status in (301, 302, 307, 308):
                    self.send_response(status)
                    self.send_header("Location", "/elsewhere")
                else:
                    self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: connections are refused until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def take(self, path: str, raw: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            self.requests.append(path)
        if self.delay:
            time.sleep(self.delay)
        try:
            body = Verifier(self.secret).verify(raw, headers)
        except WebhookVerificationError as exc:
            with self._lock:
                self.refused.append(headers.get("webhook-id", ""))
                self.refusals.append(f"{exc}: timestamp {headers.get('webhook-timestamp')}")
            return 400
        status = self.answer(path, body) if self.answer is not None else None
        if status is None:
            with self._lock:
                lowered = {k.lower(): v for k, v in headers.items()}
                self.received.append(
                    Received(lowered["webhook-id"], path, body, lowered, time.monotonic())
                )
            return 200
        return status

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.received]


@contextmanager
def receiving(secret: str = "", **options: Any) -> Iterator[Receiver]:
    receiver = Receiver(secret=secret, **options)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def as_json(body: bytes) -> dict[str, Any]:
    return dict(json.loads(body))
