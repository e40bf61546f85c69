"""Real HTTP traffic for the fault suite: clerks sending commands, readers sending queries.

Every request has a client deadline, so a hang shows as a reply with status 0 rather than as a
test that never ends. A clerk sends each command with an Idempotency-Key and, if told to, sends
a command that got no 2xx again with the same key until it gets one, as a careful client would:
what the service acknowledged is then exactly the set of 2xx replies.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


@dataclass(frozen=True)
class Reply:
    method: str
    path: str
    status: int  # 0: no answer within the deadline, or no connection at all
    body: Any
    started: float  # time.monotonic() when sent
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        shown = self.error or json.dumps(self.body)[:300]
        return f"{self.method} {self.path} -> {self.status} in {self.seconds:.3f}s: {shown}"


@dataclass(frozen=True)
class Api:
    port: int
    token: str
    timeout: float = 10.0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent_headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent_headers["Content-Type"] = "application/json"
        sent_headers.update(headers or {})
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=payload, headers=sent_headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            return Reply(method, path, 0, None, started, time.monotonic() - started, repr(exc))
        finally:
            conn.close()
        seconds = time.monotonic() - started
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw[:500].decode(errors="replace")
        return Reply(method, path, status, parsed, started, seconds)

    def get(self, path: str) -> Reply:
        return self.call("GET", path)


def is_service_unavailable(reply: Reply) -> bool:
    """A 503 in the contract's error shape, and nothing else."""
    body = reply.body
    return (
        reply.status == 503
        and isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"], dict)
        and set(body["error"]) == {"code", "message", "details"}
        and body["error"]["code"] == "service_unavailable"
    )


@dataclass(frozen=True)
class Command:
    method: str
    path: str
    body: Any
    key: str = field(default_factory=lambda: str(uuid.uuid4()))


def create_order(clerk: str, n: int) -> Command:
    """The clerk's n-th order, with two products."""
    return Command(
        "POST",
        "/api/orders",
        {
            "customer_id": f"{clerk}-{n % 3}",
            "items": [
                {"product_id": "widget", "quantity": 1 + n % 4, "unit_price": "2.50"},
                {"product_id": f"sku-{n % 7}", "quantity": 1, "unit_price": "9.99"},
            ],
            "shipping_address": ADDRESS,
        },
    )


def follow_ups(order_id: str, n: int) -> list[Command]:
    """An item added, the address changed, then shipped, cancelled or a product removed:
    every event type and every read-model column moves."""
    path = f"/api/orders/{order_id}"
    last = (
        Command("POST", f"{path}/ship", {"carrier": "UPS", "tracking_number": f"1Z{n}"})
        if n % 3 == 0
        else Command("POST", f"{path}/cancel", {"reason": f"changed mind {n}"})
        if n % 3 == 1
        else Command("DELETE", f"{path}/items/widget", None)
    )
    return [
        Command(
            "POST", f"{path}/items", {"product_id": "gadget", "quantity": 2, "unit_price": "1.25"}
        ),
        Command("PUT", f"{path}/shipping-address", {**ADDRESS, "city": f"Shelbyville-{n % 5}"}),
        last,
    ]


@dataclass(frozen=True)
class Ack:
    """A command the service acknowledged (2xx): its event must be in the log."""

    order_id: str
    version: int
    position: int


class Clerk(threading.Thread):
    """Sends orders' commands one after another, ``pause`` seconds apart, until stopped.

    With ``resend`` a command that got no 2xx is sent again (same key) until it gets one;
    without, the clerk goes on with a new order.
    """

    def __init__(
        self, api: Api, name: str, *, pause: float, resend: bool, stop: threading.Event
    ) -> None:
        super().__init__(name=f"clerk-{name}", daemon=True)
        self.api = api
        self.clerk = name
        self.pause = pause
        self.resend = resend
        self.stopping = stop
        self.replies: list[Reply] = []
        self.acks: list[Ack] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            self._one_order(n)
            n += 1

    def _one_order(self, n: int) -> None:
        created = self._deliver(create_order(self.clerk, n))
        if created is None:
            return
        for command in follow_ups(created.body["order_id"], n):
            if self._deliver(command) is None:
                return  # go on with a new order: this one's state is not known

    def _deliver(self, command: Command) -> Reply | None:
        """Send ``command`` (again, with ``resend``) until a 2xx; None if it got none."""
        reply = self._send(command)
        while not reply.ok and self.resend and not self.stopping.wait(self.pause):
            reply = self._send(command)
        self.stopping.wait(self.pause)
        return reply if reply.ok else None

    def _send(self, command: Command) -> Reply:
        reply = self.api.call(
            command.method, command.path, command.body, {"Idempotency-Key": command.key}
        )
        with self.lock:
            self.replies.append(reply)
            if reply.ok:
                body = reply.body
                self.acks.append(Ack(body["order_id"], body["version"], body["position"]))
        return reply

    def snapshot(self) -> list[Reply]:
        with self.lock:
            return list(self.replies)


class Reader(threading.Thread):
    """Sends the queries of ``paths`` in turn, ``pause`` seconds apart, until stopped."""

    def __init__(self, api: Api, paths: list[str], *, pause: float, stop: threading.Event) -> None:
        super().__init__(name="reader", daemon=True)
        self.api = api
        self.paths = paths
        self.pause = pause
        self.stopping = stop
        self.replies: list[Reply] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            reply = self.api.get(self.paths[n % len(self.paths)])
            with self.lock:
                self.replies.append(reply)
            n += 1
            self.stopping.wait(self.pause)

    def snapshot(self) -> list[Reply]:
        with self.lock:
            return list(self.replies)


def stop_threads(threads: Sequence[threading.Thread], stop: threading.Event) -> None:
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), f"{thread.name} did not stop"


def latency(replies: list[Reply]) -> str:
    """Median, 95th percentile and maximum of the replies' times, for the figures."""
    if not replies:
        return "no requests"
    seconds = sorted(r.seconds for r in replies)
    p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
    return (
        f"{len(seconds)} requests, median {statistics.median(seconds) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
    )
