"""HTTP answers under faults: PostgreSQL frozen, and readers waiting for positions never met.

    python -m bench.faults [--frozen-seconds 20] [--clients 8] [--waiters 64] [--seconds 15]
                           [--pause 0.5]

Everything runs on a PostgreSQL cluster of its own (bench.servers.PrivatePostgres: initdb in a
temporary folder, its own port, run by the ``postgres`` OS user when this runs as root), the
only server it freezes. gunicorn as production runs it (config/gunicorn.py: 2 workers x 4
threads, production settings and the database limits' defaults), a Redis broker that takes
the wake-ups (BENCH_WEB_BROKER, queue ``bench_faults``), no worker. Clients are threads of this
process, each with one keep-alive connection.

1. Frozen database: ``--clients`` clients send ``POST /api/orders`` one after another, a
   prober ``GET /healthz`` every 100 ms. After a few seconds every process of the cluster is
   SIGSTOPped for ``--frozen-seconds``, then SIGCONTinued. Reported: the time to each command's
   answer while frozen (and its status), /healthz while frozen, and how long after the thaw
   the first command is answered 201 again.
2. Waiting readers: the cluster thawed, an order created (its position is committed, and no
   worker will ever apply it). One client sends ``POST /api/orders`` one after another for
   ``--seconds`` and the prober runs, first alone, then with ``--waiters`` clients each asking
   ``GET /api/orders/search?min_position=P&consistency_timeout=30`` (half for that position,
   half for 2**63-1, beyond the log's head) and asking again ``--pause`` s after each answer.
   Reported: the commands' p50/p99 and /healthz p99 in both runs, and how the waiters were
   answered (at once, or after waiting).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench import servers
from bench.common import format_table, machine_note
from bench.web import order_body

DB_NAME = "bench_faults"
BROKER = os.environ.get("BENCH_WEB_BROKER", "redis://127.0.0.1:6379/12")
QUEUE = "bench_faults"
MAX_POSITION = 2**63 - 1


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic()
    seconds: float
    status: int  # 0: no answer (connection error)

    @property
    def ended(self) -> float:
        return self.started + self.seconds


def call(
    client: servers.Client, method: str, path: str, body: Any = None, **headers: str
) -> Answer:
    started = time.monotonic()
    try:
        status = client.request(method, path, body, **headers)[0]
    except Exception:  # no answer: counted as status 0, the next call connects anew
        client.connection.close()
        status = 0
    return Answer(started, time.monotonic() - started, status)


class Loop(threading.Thread):
    """Calls ``request`` until stopped, ``pause`` seconds after each answer; keeps the answers."""

    def __init__(self, port: int, token: str, request: Any, pause: float, stop: threading.Event):
        super().__init__(daemon=True)
        self.client = servers.Client(port, token)
        self.request = request
        self.pause = pause
        self.stopping = stop
        self.answers: list[Answer] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            self.answers.append(self.request(self.client))
            self.stopping.wait(self.pause)

    def cut(self) -> None:
        """End a request still waiting for its answer (the server may hold it for long)."""
        sock = self.client.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(answers: list[Answer]) -> str:
    seconds = [a.seconds for a in answers]
    if not seconds:
        return "none"
    return (
        f"{len(seconds)}: p50 {ms(seconds, 0.5):.0f} ms, p99 {ms(seconds, 0.99):.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms"
    )


def statuses(answers: list[Answer]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for answer in answers:
        counted[answer.status] = counted.get(answer.status, 0) + 1
    return dict(sorted(counted.items()))


def create_order(rng: random.Random) -> Any:
    def request(client: servers.Client) -> Answer:
        return call(
            client, "POST", "/api/orders", order_body(rng), **{"Idempotency-Key": uuid.uuid4().hex}
        )

    return request


def get(path: str) -> Any:
    return lambda client: call(client, "GET", path)


def prepare(url: str) -> str:
    """The database migrated, an admin's token (Django set up in this process)."""
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("CELERY_BROKER_URL", None)  # eager here: nothing is sent anywhere
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0, interactive=False)
    user = User.objects.create_superuser("bench", "bench@example.com", None)
    return Token.objects.create(user=user).key


def frozen(
    port: int, token: str, postgres: servers.PrivatePostgres, seconds: float, clients: int
) -> dict[str, Any]:
    stop = threading.Event()
    senders = [Loop(port, token, create_order(random.Random(n)), 0.0, stop) for n in range(clients)]
    prober = Loop(port, token, get("/healthz"), 0.1, stop)
    for thread in [*senders, prober]:
        thread.start()
    time.sleep(3)  # a warm-up: every sender has a connection and commands go through
    postgres.freeze()
    frozen_at = time.monotonic()
    try:
        time.sleep(seconds)
    finally:
        postgres.thaw()
    thawed_at = time.monotonic()
    deadline = thawed_at + 60

    def back() -> list[Answer]:
        return [
            a
            for s in senders
            for a in list(s.answers)
            if a.status == 201 and a.started >= thawed_at
        ]

    while not back() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2)
    stop.set()
    for thread in [*senders, prober]:
        thread.join(timeout=60)

    commands = [a for s in senders for a in s.answers]
    sent = [a for a in commands if frozen_at <= a.started < thawed_at]
    before_thaw = [a for a in sent if a.ended < thawed_at]
    in_flight = [a for a in commands if a.started < frozen_at < a.ended]
    probes = [a for a in prober.answers if frozen_at <= a.started < thawed_at]
    first_back = min((a.ended for a in back()), default=float("nan")) - thawed_at
    return {
        "commands sent while frozen": summary(sent),
        "their statuses": statuses(sent),
        "answered before the thaw": f"{len(before_thaw)}, statuses {statuses(before_thaw)}",
        "commands in flight at the freeze, answered after (s)": sorted(
            round(a.ended - frozen_at, 1) for a in in_flight
        ),
        "/healthz while frozen": summary(probes),
        "/healthz statuses": statuses(probes),
        "first 201 after the thaw (s)": round(first_back, 2),
    }


def waiting(
    port: int, token: str, seconds: float, waiters: int, pause: float, unapplied: int
) -> dict[str, Any]:
    stop = threading.Event()
    paths = [
        f"/api/orders/search?min_position={unapplied}&consistency_timeout=30",
        f"/api/orders/search?min_position={MAX_POSITION}&consistency_timeout=30",
    ]
    readers = [Loop(port, token, get(paths[n % 2]), pause, stop) for n in range(waiters)]
    for reader in readers:
        reader.start()
    if readers:
        time.sleep(2)  # the waits taken, the others answered once
    measured_from = time.monotonic()
    sender = Loop(port, token, create_order(random.Random(99)), 0.0, stop)
    prober = Loop(port, token, get("/healthz"), 0.1, stop)
    sender.start()
    prober.start()
    time.sleep(seconds)
    stop.set()
    for reader in readers:
        reader.cut()
    for thread in [sender, prober, *readers]:
        thread.join(timeout=60)

    commands = [a.seconds for a in sender.answers]
    probes = [a.seconds for a in prober.answers]
    answered = [a for r in readers for a in r.answers if a.started >= measured_from and a.status]
    return {
        "waiters": waiters,
        "commands": len(commands),
        "command statuses": statuses(sender.answers),
        "command p50 ms": round(ms(commands, 0.5), 1),
        "command p99 ms": round(ms(commands, 0.99), 1),
        "healthz p50 ms": round(ms(probes, 0.5), 1),
        "healthz p99 ms": round(ms(probes, 0.99), 1),
        "healthz max ms": round(max(probes) * 1000, 1) if probes else None,
        "waiter answers": len(answered),
        "waiter statuses": statuses(answered),
        "waiters answered within 1 s": sum(a.seconds < 1 for a in answered),
        "waiters answered after waiting 29 s or more": sum(a.seconds >= 29 for a in answered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frozen-seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--waiters", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--pause", type=float, default=0.5)
    args = parser.parse_args(argv)

    postgres = servers.PrivatePostgres()
    postgres.start()
    web = None
    try:
        url = postgres.url(DB_NAME)
        token = prepare(url)
        env = {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret"),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "CELERY_BROKER_URL": BROKER,
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "LOG_LEVEL": "WARNING",
        }
        port = servers.free_port()
        print(f"bench.faults: {machine_note()}; gunicorn 2 workers x 4 threads on :{port}")
        web = servers.start_gunicorn(env, port)
        results: dict[str, Any] = {}
        print(
            f"1. PostgreSQL frozen {args.frozen_seconds:.0f} s, {args.clients} clients", flush=True
        )
        results["frozen"] = frozen(port, token, postgres, args.frozen_seconds, args.clients)
        for key, value in results["frozen"].items():
            print(f"   {key}: {value}")

        client = servers.Client(port, token)
        status, _, created = client.post("/api/orders", order_body(random.Random(7)))
        client.close()
        assert status == 201, created
        print(f"2. readers waiting for positions never met (pause {args.pause} s)", flush=True)
        runs = [
            waiting(port, token, args.seconds, n, args.pause, created["position"])
            for n in (0, args.waiters)
        ]
        results["waiting"] = runs
        rows = [
            [
                f"{run['waiters']} waiting clients",
                run["commands"],
                run["command p50 ms"],
                run["command p99 ms"],
                run["healthz p99 ms"],
                run["healthz max ms"],
                f"{run['waiters answered within 1 s']} / {run['waiter answers']}",
            ]
            for run in runs
        ]
        headers = ["", "commands", "p50 ms", "p99 ms", "/healthz p99", "max", "waiters at once"]
        print(format_table(rows, headers))
        for run in runs:
            print(f"   {json.dumps(run)}")
        servers.RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        (servers.RESULTS / f"faults-{stamp}.json").write_text(json.dumps(results, indent=2))
    finally:
        if web is not None:
            servers.stop(web)
        postgres.stop()
        import redis

        redis.Redis.from_url(BROKER).delete(QUEUE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
