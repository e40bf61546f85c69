"""HTTP under gunicorn: command throughput against a bare DRF insert, and read-your-writes.

    python -m bench.web [--rounds 3] [--seconds 8] [--clients 8] [--ryw-seconds 10]

In a fresh database ``bench_web``, one gunicorn (config/gunicorn.py: 2 gthread workers of 4
threads, production settings, JSON logs to bench/results/gunicorn.log, multiprocess metrics)
serves bench.settings: the project's URLs plus the bare baseline view (bench.views).
Clients are threads of this process, each with one keep-alive connection to 127.0.0.1.

1. Commands: ``POST /api/orders`` with an Idempotency-Key (a new one per request) against
   ``POST /bench/raw-insert`` (the same body, one INSERT of the same event into a plain table
   of the event columns), token-authenticated both. Rounds alternate which goes first; the
   ratio is taken per round. A Redis broker is configured (each commit sends its coalesced
   wake-up, as in production) but no worker consumes: the projections are not measured here.
   Target: ours >= 0.5x the bare view's throughput.
2. Read-your-writes: a Celery worker (prefork, 2 processes) applies the projections; each
   client step is ``POST /api/orders`` then ``GET /api/orders/{id}?min_position=<position>``;
   reports the round trip and the query's part, p50/p99, and how many answers were stale.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench import servers
from bench.common import Measurement, Step, database_url, format_table, machine_note, measure

DB_NAME = "bench_web"
BROKER = os.environ.get("BENCH_WEB_BROKER", "redis://127.0.0.1:6379/12")
QUEUE = "bench_web"
TARGET_RATIO = 0.5
CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Oslo", "Turin")


def order_body(rng: random.Random) -> dict[str, Any]:
    return {
        "customer_id": f"customer-{rng.randrange(10_000)}",
        "items": [
            {
                "product_id": f"sku-{rng.randrange(500)}",
                "quantity": rng.randint(1, 5),
                "unit_price": f"{rng.randint(100, 20_000) / 100:.2f}",
            }
            for _ in range(rng.randint(1, 3))
        ],
        "shipping_address": {
            "line1": f"{rng.randint(1, 200)} Main St",
            "city": rng.choice(CITIES),
            "postal_code": f"{rng.randint(10_000, 99_999)}",
            "country": "PT",
        },
    }


def environment() -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(DB_NAME),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret"),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-web-metrics-"),
    }


def prepare(env: dict[str, str]) -> str:
    """Fresh database, migrated, the baseline's table, an admin's token; returns the token."""
    from bench.common import raw_event_table_ddl, recreate_database

    os.environ.update(env)
    recreate_database(DB_NAME)
    import django
    import redis

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from bench.views import RAW_TABLE

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(raw_event_table_ddl(RAW_TABLE))
    redis.Redis.from_url(BROKER).flushdb()
    user = User.objects.create_superuser("bench", "bench@example.com", None)
    return Token.objects.create(user=user).key


@contextmanager
def http_session(port: int, token: str, path: str, number: int) -> Iterator[Step]:
    client = servers.Client(port, token)
    rng = random.Random(number)
    try:

        def step() -> int:
            status, _, body = client.post(
                path, order_body(rng), **{"Idempotency-Key": uuid.uuid4().hex}
            )
            if status != 201:
                raise RuntimeError(f"{path} answered {status}: {body!r}")
            return 1

        yield step
    finally:
        client.close()


def run_commands(
    port: int, token: str, rounds: int, seconds: float, clients: int
) -> list[tuple[Measurement, Measurement]]:
    systems = {"ours": "/api/orders", "bare": "/bench/raw-insert"}
    results = []
    for number in range(rounds):
        order = ["ours", "bare"] if number % 2 == 0 else ["bare", "ours"]
        measured = {}
        for label in order:
            path = systems[label]
            measured[label] = measure(
                label,
                clients,
                lambda n, path=path: http_session(port, token, path, n),
                seconds=seconds,
                warmup=10,
            )
        results.append((measured["ours"], measured["bare"]))
        ours, bare = results[-1]
        ratio = ours.events_per_second / bare.events_per_second
        print(
            f"round {number + 1} ({' then '.join(order)}): ours {ours.events_per_second:,.0f}/s "
            f"bare {bare.events_per_second:,.0f}/s ratio {ratio:.2f}",
            flush=True,
        )
    return results


def wait_caught_up(port: int, token: str, timeout: float = 300.0) -> None:
    """Until the worker has applied what the command rounds wrote (not part of a round trip)."""
    client = servers.Client(port, token)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            _, _, projections = client.get("/api/projections")
            if all(p["lag_events"] == 0 for p in projections):
                return
            time.sleep(0.5)
    finally:
        client.close()
    raise RuntimeError(f"the worker did not catch up within {timeout:.0f} s")


def run_read_your_writes(port: int, token: str, seconds: float, clients: int) -> dict[str, Any]:
    wait_caught_up(port, token)
    queries: list[float] = []
    stale = [0]

    @contextmanager
    def session(number: int) -> Iterator[Step]:
        client = servers.Client(port, token)
        rng = random.Random(1000 + number)
        try:

            def step() -> int:
                status, _, created = client.post("/api/orders", order_body(rng))
                if status != 201:
                    raise RuntimeError(f"create answered {status}: {created!r}")
                started = time.perf_counter()
                path = f"/api/orders/{created['order_id']}?min_position={created['position']}"
                status, headers, body = client.get(path)
                queries.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"query answered {status}: {body!r}")
                if headers.get("X-Consistency") != "fresh":
                    stale[0] += 1
                return 1

            yield step
        finally:
            client.close()

    measured = measure("read-your-writes", clients, session, seconds=seconds, warmup=5)
    ordered = sorted(queries)

    def query_ms(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "pairs": measured.units,
        "pairs_per_second": round(measured.events_per_second, 1),
        "round_trip_p50_ms": round(measured.latency_ms(0.5), 1),
        "round_trip_p99_ms": round(measured.latency_ms(0.99), 1),
        "query_p50_ms": round(query_ms(0.5), 1),
        "query_p99_ms": round(query_ms(0.99), 1),
        "stale": stale[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--ryw-seconds", type=float, default=10.0)
    parser.add_argument("--ryw-clients", type=int, default=2)
    args = parser.parse_args(argv)

    env = environment()
    token = prepare(env)
    port = servers.free_port()
    print(f"bench.web: {machine_note()}; gunicorn 2 workers x 4 threads on :{port}", flush=True)
    web = servers.start_gunicorn(env, port)
    worker = None
    try:
        pairs = run_commands(port, token, args.rounds, args.seconds, args.clients)
        worker = servers.start_worker(env, QUEUE)
        ryw = run_read_your_writes(port, token, args.ryw_seconds, args.ryw_clients)
    finally:
        if worker is not None:
            servers.stop(worker)
        servers.stop(web)

    ratios = [o.events_per_second / b.events_per_second for o, b in pairs]
    rows = []
    for label, index in (
        ("POST /api/orders (Idempotency-Key)", 0),
        ("bare DRF view, one INSERT", 1),
    ):
        runs = [pair[index] for pair in pairs]
        rates = [m.events_per_second for m in runs]
        rows.append(
            [
                label,
                f"{statistics.median(rates):,.0f}",
                f"{min(rates):,.0f}-{max(rates):,.0f}",
                f"{statistics.median(m.latency_ms(0.5) for m in runs):.1f}",
                f"{statistics.median(m.latency_ms(0.99) for m in runs):.1f}",
            ]
        )
    print(format_table(rows, ["", "req/s (median)", "rounds", "p50 ms", "p99 ms"]))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"ours/bare: median {ratio:.2f} (rounds {' '.join(f'{r:.2f}' for r in ratios)}); "
        f"target >= {TARGET_RATIO}: {verdict}"
    )
    print(f"read-your-writes over HTTP ({args.ryw_clients} clients): {json.dumps(ryw)}")
    servers.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (servers.RESULTS / f"web-{stamp}.json").write_text(
        json.dumps({"ratios": ratios, "rows": rows, "read_your_writes": ryw}, indent=2)
    )
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
