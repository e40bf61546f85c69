"""Following the log from outside (issue 19): the feed's read speed and its long polls' latency.

    python -m bench.feed [--events 200000] [--rounds 3] [--samples 200] [--only read|latency]

In a fresh database ``bench_feed``, a log of ``--events`` order events (four per order:
created, two items added, shipped; payloads and metadata of realistic size) is written by
SQL, a transaction per 20,000 events. One gunicorn (config/gunicorn.py: 2 gthread workers of 4
threads, production settings) serves the API with FEED_REDIS_URL set (Redis pub/sub wake-ups).

1. Read: one client reads the whole log through ``GET /api/events?limit=1000`` (a keep-alive
   connection, each answer parsed, sending back ``next``) against ``read_all(limit=1000)`` in
   this process (the same pages, no HTTP, no JSON). Rounds alternate which goes first; the
   ratio is per round. Target: the feed >= 0.5x read_all.
2. Latency: a client long polls (``after=<the end>&wait=30``) while this process appends one
   event (``append_to_stream``, a statement that commits by itself and announces the commit
   on Redis): from the append's return (committed) to the poll's answer, p50 / p99.
3. Webhook deliveries/s: to come with the webhooks (the ``PARTS`` table below).

Results: printed, and bench/results/feed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bench import servers
from bench.common import database_url, machine_note, rate, setup_django

DB_NAME = "bench_feed"
REDIS = os.environ.get("BENCH_FEED_REDIS", "redis://127.0.0.1:6379/13")
TARGET_RATIO = 0.5
PAGE = 1000
FILL_BATCH = 20_000

# Four events per order, in version order; payloads of the size the orders domain writes.
_FILL = """
INSERT INTO eventstore_event (event_id, stream_id, stream_type, version, event_type,
                              schema_version, data, metadata, recorded_at)
SELECT gen_random_uuid(), 'order-' || (i / 4), 'Order', (i %% 4) + 1,
       (ARRAY['OrderCreated', 'OrderItemAdded', 'OrderItemAdded', 'OrderShipped'])[(i %% 4) + 1],
       1,
       jsonb_build_object(
           'order_id', md5((i / 4)::text)::uuid,
           'customer_id', 'customer-' || (i %% 997),
           'items', jsonb_build_array(jsonb_build_object(
               'product_id', 'sku-' || (i %% 500), 'quantity', 1 + i %% 5,
               'unit_price', ((i %% 20000) / 100.0)::numeric(10, 2)::text)),
           'shipping_address', jsonb_build_object(
               'line1', (i %% 200) || ' Main St', 'city', 'Lisbon', 'postal_code', '1000-001',
               'country', 'PT')),
       jsonb_build_object(
           'command_id', gen_random_uuid(), 'correlation_id', gen_random_uuid(),
           'causation_id', gen_random_uuid(), 'actor', 'bench'),
       now()
FROM generate_series(%s::bigint, %s::bigint) AS i
"""


def environment() -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(DB_NAME),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret"),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "FEED_REDIS_URL": REDIS,
        "API_THROTTLE_USER": "",
        "API_THROTTLE_ANON": "",
    }


def prepare(events: int) -> str:
    """Fresh database with the log; a superuser's token."""
    os.environ["FEED_REDIS_URL"] = REDIS
    setup_django(DB_NAME)
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    started = time.perf_counter()
    for first in range(0, events, FILL_BATCH):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_FILL, [first, min(first + FILL_BATCH, events) - 1])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE eventstore_event")
    print(f"log of {events:,} events written in {time.perf_counter() - started:.1f} s")
    user = User.objects.create_superuser("bench", "bench@example.com", None)
    return Token.objects.create(user=user).key


def read_with_read_all() -> int:
    from eventstore.store import Checkpoint, read_all

    count, after = 0, Checkpoint()
    while page := read_all(after, limit=PAGE):
        count += len(page)
        after = page[-1].checkpoint
    return count


def read_through_feed(port: int, token: str) -> int:
    client = servers.Client(port, token)
    count, after = 0, ""
    try:
        while True:
            path = f"/api/events?limit={PAGE}" + (f"&after={quote(after)}" if after else "")
            status, _, body = client.get(path)
            if status != 200:
                raise RuntimeError(f"the feed answered {status}: {body!r}")
            if not body["events"]:
                return count
            count += len(body["events"])
            after = body["next"]
    finally:
        client.close()


def timed(read: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = read()
    return count, time.perf_counter() - started


def run_read(port: int, token: str, rounds: int, events: int) -> dict[str, Any]:
    systems: dict[str, Callable[[], int]] = {
        "feed": lambda: read_through_feed(port, token),
        "read_all": read_with_read_all,
    }
    ratios, rates = [], {"feed": [], "read_all": []}
    for number in range(rounds):
        order = ["feed", "read_all"] if number % 2 == 0 else ["read_all", "feed"]
        measured = {}
        for label in order:
            count, seconds = timed(systems[label])
            if count != events:
                raise RuntimeError(f"{label} read {count} events, not {events}")
            measured[label] = rate(count, seconds)
            rates[label].append(measured[label])
        ratios.append(measured["feed"] / measured["read_all"])
        print(
            f"round {number + 1} ({' then '.join(order)}): feed {measured['feed']:,.0f} events/s"
            f", read_all {measured['read_all']:,.0f} events/s, ratio {ratios[-1]:.2f}",
            flush=True,
        )
    ratio = statistics.median(ratios)
    print(
        f"read: feed {statistics.median(rates['feed']):,.0f} events/s, read_all "
        f"{statistics.median(rates['read_all']):,.0f} events/s; ratio median {ratio:.2f} "
        f"[{min(ratios):.2f}-{max(ratios):.2f}] (target >= {TARGET_RATIO}: "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})"
    )
    return {
        "feed_events_per_second": rates["feed"],
        "read_all_events_per_second": rates["read_all"],
        "ratios": ratios,
        "ratio_median": ratio,
    }


def run_latency(port: int, token: str, samples: int) -> dict[str, Any]:
    from django.db import connection

    from eventstore import feed
    from eventstore.store import NewEvent, append_to_stream, checkpoint_now

    client = servers.Client(port, token)
    cursor = feed.encode_cursor(checkpoint_now())
    latencies: list[float] = []
    try:
        for n in range(samples):
            answer: dict[str, Any] = {}

            def poll(after: str = cursor, answer: dict[str, Any] = answer) -> None:
                status, _, body = client.get(f"/api/events?after={quote(after)}&wait=30")
                answer.update(body, status=status, at=time.perf_counter())

            thread = threading.Thread(target=poll)
            thread.start()
            # The poll must be waiting before the append: gunicorn has it within milliseconds.
            time.sleep(0.05)
            append_to_stream(
                f"latency-{n}", "Bench", [NewEvent("Pinged", {"n": n})], expected_version=0
            )
            committed = time.perf_counter()
            thread.join(timeout=60)
            if answer.get("status") != 200 or len(answer.get("events", [])) != 1:
                raise RuntimeError(f"the long poll answered {answer!r}")
            latencies.append(answer["at"] - committed)
            cursor = answer["next"]
    finally:
        client.close()
        connection.close()
    ordered = sorted(latencies)

    def ms(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    print(
        f"latency from commit to the long poll's answer ({samples} polls): "
        f"p50 {ms(0.5):.1f} ms, p99 {ms(0.99):.1f} ms, max {1000 * ordered[-1]:.1f} ms"
    )
    return {"samples": samples, "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": 1000 * ordered[-1]}


# Each part of the benchmark: name -> function(port, token, args) -> its results. The webhooks
# (issue 19 item 2) add "webhooks": deliveries/s to a local receiver.
PARTS: dict[str, Callable[[int, str, argparse.Namespace], dict[str, Any]]] = {
    "read": lambda port, token, args: run_read(port, token, args.rounds, args.events),
    "latency": lambda port, token, args: run_latency(port, token, args.samples),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--only", choices=sorted(PARTS), action="append")
    args = parser.parse_args()

    os.environ.update(environment())
    token = prepare(args.events)
    port = servers.free_port()
    server = servers.start_gunicorn(environment(), port)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_note(),
        "events": args.events,
    }
    try:
        for name in args.only or list(PARTS):
            results[name] = PARTS[name](port, token, args)
    finally:
        servers.stop(server)
    servers.RESULTS.mkdir(parents=True, exist_ok=True)
    (servers.RESULTS / "feed.json").write_text(json.dumps(results, indent=2))
    print(f"machine: {results['machine']}")


if __name__ == "__main__":
    main()
