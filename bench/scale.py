"""Queries at 10,000 and at 1,000,000 orders, through gunicorn: p50/p99 and the ratio 1M/10k.

    python -m bench.scale [--small 10000] [--large 1000000] [--requests 200]

Two fresh databases, ``bench_scale_small`` and ``bench_scale_large``, each with its own
gunicorn (2 workers) and Celery worker (prefork, 2 processes). Each log is filled with SQL
(INSERT ... SELECT over generate_series, payloads exactly as orders.domain.events writes them)
and its worker applies it through the projectors, as in production; then VACUUM ANALYZE
(autovacuum is off on this machine). One keep-alive client per server; for each case, requests
alternate between the two sizes (random arguments each, 20 unmeasured first), so both are
measured under the same load: ``--requests`` per case and size.

The shop grows in time, not in density: 1,000 orders a day (10 days at 10k, 1,000 days at
1M), 10 orders per customer, each product in ~100 orders; nine cities, a third of the orders
shipped and a third cancelled. Ids carry no separators (``c00001234``, ``sku000123``): the
full-text parser splits ``cust-1234`` into ``cust-1234``, ``cust`` and ``1234``, and the
shared ``cust`` then matches every order. Cases marked *broad* match a fixed share of all
orders (a status, a city, no filter at all): their page is cheap, but COUNTing the matches
for the page's exact ``total`` would grow with the table; the projection keeps counts per
status and per word for them (docs/decisions.md).

Also written: the EXPLAIN ANALYZE of every case's statements at the large size, and the RSS
of the gunicorn workers and the Celery worker processes at the end (bench/results/).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bench import servers
from bench.common import database_url, format_table, machine_note

BROKER = os.environ.get("BENCH_SCALE_BROKER", "redis://127.0.0.1:6379/11")
ORDERS_PER_DAY = 1000
ORDERS_PER_CUSTOMER = 10
ORDERS_PER_PRODUCT_BLOCK = 100  # each block of 100 orders sells its own 3 products
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Oslo", "Turin")
TARGET_RATIO = 1.5
TARGET_SEARCH_P99_MS = 50.0
CHUNK = 100_000

_CREATED = f"""
INSERT INTO eventstore_event (event_id, stream_id, stream_type, version, event_type,
    schema_version, data, metadata, recorded_at)
SELECT gen_random_uuid(), 'Order-' || o.id, 'Order', 1, 'OrderCreated', 1,
  jsonb_build_object(
    'order_id', o.id, 'customer_id', 'c' || lpad((o.i / {ORDERS_PER_CUSTOMER})::text, 8, '0'),
    'currency', 'USD',
    'items', (SELECT jsonb_agg(jsonb_build_object(
        'product_id', 'sku' || lpad(((o.i / {ORDERS_PER_PRODUCT_BLOCK}) * 3 + k)::text, 6, '0'),
        'quantity', 1 + (o.i + k) %% 4,
        'unit_price', (((o.i * 37 + k * 101) %% 20000 + 100) / 100.0)::numeric(10, 2)::text)
      ORDER BY k) FROM generate_series(0, o.i %% 3) k),
    'shipping_address', jsonb_build_object(
      'line1', (o.i %% 400) || ' Main St', 'line2', '',
      'city', (ARRAY{list(CITIES)})[1 + o.i %% 9],
      'postal_code', lpad((10000 + o.i %% 90000)::text, 5, '0'), 'country', 'US')),
  jsonb_build_object('command_id', o.id, 'command_type', 'CreateOrder',
    'correlation_id', o.id, 'causation_id', o.id, 'actor', 'bench'),
  %(epoch)s::timestamptz + o.i * interval '{86400 / ORDERS_PER_DAY} seconds'
FROM (SELECT i, md5('order-' || i)::uuid AS id FROM generate_series(%(start)s, %(end)s - 1) i) o
ORDER BY o.i
"""
_LATER = """
INSERT INTO eventstore_event (event_id, stream_id, stream_type, version, event_type,
    schema_version, data, metadata, recorded_at)
SELECT gen_random_uuid(), 'Order-' || o.id, 'Order', 2,
  CASE WHEN o.i %% 3 = 1 THEN 'OrderShipped' ELSE 'OrderCancelled' END, 1,
  CASE WHEN o.i %% 3 = 1
    THEN jsonb_build_object('order_id', o.id, 'carrier', 'UPS', 'tracking_number', '1Z' || o.i)
    ELSE jsonb_build_object('order_id', o.id, 'reason', 'changed mind ' || o.i %% 50) END,
  jsonb_build_object('command_id', o.id, 'actor', 'bench'),
  %(epoch)s::timestamptz + o.i * interval '86.4 seconds' + interval '1 hour'
FROM (SELECT i, md5('order-' || i)::uuid AS id FROM generate_series(%(start)s, %(end)s - 1) i) o
WHERE o.i %% 3 <> 0
ORDER BY o.i
"""


def order_id(i: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"order-{i}".encode()).hexdigest()))


def environment(size: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(f"bench_scale_{size}"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret"),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_DEFAULT_QUEUE": f"bench_scale_{size}",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-scale-metrics-"),
        "LOG_LEVEL": "WARNING",  # a line per query would be measured too; bench.web has them on
    }


def prepare(env: dict[str, str]) -> str:
    """Fresh database, migrated, an admin; returns the admin's API token."""
    from bench.common import recreate_database

    recreate_database(env["DATABASE_URL"].rsplit("/", 1)[1])
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "-v0"], cwd=servers.ROOT, env={**os.environ, **env}, check=True
    )
    shown = subprocess.run(
        [*manage, "create_admin", "--username", "bench"],
        cwd=servers.ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return shown.split("Authorization: Token ")[1].split()[0]


def fill(dsn: str, orders: int) -> float:
    """``orders`` orders into the log, CHUNK orders per transaction; returns seconds."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for low in range(0, orders, CHUNK):
            params = {"start": low, "end": min(orders, low + CHUNK), "epoch": EPOCH}
            conn.execute(_CREATED, params)
            conn.execute(_LATER, params)
            conn.commit()
    return time.perf_counter() - began


def project(env: dict[str, str], client: servers.Client) -> float:
    """Let the Celery worker apply the whole log (wake-ups sent as the beat sweep would)."""
    import psycopg
    from celery import Celery

    app = Celery(broker=BROKER)
    began = time.perf_counter()
    while True:
        _, _, statuses = client.get("/api/projections")
        if all(s["lag_events"] == 0 for s in statuses):
            break
        if any(s["status"] == "failed" for s in statuses):
            raise RuntimeError(f"a projection failed: {statuses}")
        app.send_task("projections.catch_up", queue=env["CELERY_TASK_DEFAULT_QUEUE"])
        time.sleep(2)
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        # What autovacuum does in production: statistics, and the full-text index's pending
        # list merged (until then each search scans that list: ~500 buffers per query).
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - began


Case = Callable[[random.Random, int], str]


def day(n: int) -> str:
    return (EPOCH + timedelta(days=n)).date().isoformat()


def moment(n: int) -> str:
    """Midnight UTC of day ``n``, with its offset (the API refuses a timestamp without one)."""
    return (EPOCH + timedelta(days=n)).isoformat()


def _window(rng: random.Random, orders: int, **extra: str) -> str:
    first = rng.randrange(orders // ORDERS_PER_DAY)
    params = {"created_after": moment(first), "created_before": moment(first + 1), **extra}
    return "/api/orders/search?" + urlencode(params)


def cases() -> dict[str, Case]:
    def customer(rng: random.Random, orders: int) -> str:
        return f"c{rng.randrange(orders // ORDERS_PER_CUSTOMER):08d}"

    def product(rng: random.Random, orders: int) -> str:
        return f"sku{rng.randrange(orders // ORDERS_PER_PRODUCT_BLOCK * 3):06d}"

    found: dict[str, Case] = {
        "order by id": lambda r, n: f"/api/orders/{order_id(r.randrange(n))}",
        "customer orders": lambda r, n: f"/api/customers/{customer(r, n)}/orders",
        "search q=customer": lambda r, n: f"/api/orders/search?q={customer(r, n)}",
        "search q=product": lambda r, n: f"/api/orders/search?q={product(r, n)}",
        "search customer_id+status": lambda r, n: (
            "/api/orders/search?" + urlencode({"customer_id": customer(r, n), "status": "pending"})
        ),
        "search one day, total range": lambda r, n: _window(r, n, min_total="50", max_total="150"),
        "daily-sales 30 days": lambda r, n: (
            "/api/reports/daily-sales?"
            + urlencode(
                {"from": day(first := r.randrange(n // ORDERS_PER_DAY)), "to": day(first + 30)}
            )
        ),
    }
    for sort in ("created_at", "total_amount", "item_count", "updated_at"):
        for direction in ("desc", "asc"):
            found[f"search one day, {sort} {direction}"] = lambda r, n, s=sort, d=direction: (
                _window(r, n, sort_by=s, sort_order=d)
            )
    found["broad: search, no filter"] = lambda r, n: "/api/orders/search"
    found["broad: search status=shipped"] = lambda r, n: "/api/orders/search?status=shipped"
    found["broad: search q=city"] = lambda r, n: f"/api/orders/search?q={r.choice(CITIES)}"
    return found


def measure_cases(
    clients: dict[int, servers.Client], requests: int
) -> dict[int, dict[str, list[float]]]:
    results: dict[int, dict[str, list[float]]] = {size: {} for size in clients}
    for name, case in cases().items():
        rngs = {size: random.Random(f"{name}-{size}") for size in clients}
        timings: dict[int, list[float]] = {size: [] for size in clients}
        for attempt in range(20 + requests):
            sizes = list(clients) if attempt % 2 == 0 else list(reversed(clients))
            for size in sizes:
                path = case(rngs[size], size)
                began = time.perf_counter()
                status, _, body = clients[size].get(path)
                elapsed = time.perf_counter() - began
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}: {body!r}")
                if attempt >= 20:
                    timings[size].append(elapsed)
        for size in clients:
            results[size][name] = timings[size]
    return results


def explain_all(orders: int) -> str:
    """EXPLAIN ANALYZE of the SQL each case runs (one sample request each, in-process)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get().key}")
    out = []
    for name, case in cases().items():
        path = case(random.Random(name), orders)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        assert response.status_code == 200, (path, response.content)
        out.append(f"### {name}: GET {path}\n")
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT") or "authtoken_token" in sql:
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            out.append(f"{sql}\n{plan}\n")
    return "\n".join(out)


def percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def memory(web: Any, worker: Any) -> dict[str, list[float]]:
    return {
        "gunicorn workers": [round(servers.rss_mib(p), 1) for p in servers.children(web.pid)],
        "celery worker processes": [
            round(servers.rss_mib(p), 1) for p in servers.children(worker.pid)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    sizes = {args.small: "small", args.large: "large"}

    print(f"bench.scale: {machine_note()}", flush=True)
    envs = {size: environment(label) for size, label in sizes.items()}
    tokens = {size: prepare(env) for size, env in envs.items()}
    processes = []
    clients: dict[int, servers.Client] = {}
    try:
        for size, env in envs.items():
            worker = servers.start_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"])
            processes.append(worker)
            port = servers.free_port()
            web = servers.start_gunicorn(env, port)
            processes.append(web)
            clients[size] = servers.Client(port, tokens[size])
            filled = fill(env["DATABASE_URL"], size)
            projected = project(env, clients[size])
            print(f"{size:,} orders: log filled in {filled:.0f} s, projected in {projected:.0f} s")
        measured = measure_cases(clients, args.requests)
        rss = memory(processes[-1], processes[-2])
        os.environ.update(envs[args.large])
        import django

        django.setup()
        plans = explain_all(args.large)
    finally:
        for client in clients.values():
            client.close()
        for process in reversed(processes):
            servers.stop(process)

    small, large = measured[args.small], measured[args.large]
    rows = []
    missed = []
    for name in small:
        p50s, p99s = percentile_ms(small[name], 0.5), percentile_ms(small[name], 0.99)
        p50l, p99l = percentile_ms(large[name], 0.5), percentile_ms(large[name], 0.99)
        ratio = statistics.median(large[name]) / statistics.median(small[name])
        if ratio > TARGET_RATIO or (name.startswith("search") and p99l > TARGET_SEARCH_P99_MS):
            missed.append(name)
        rows.append(
            [name, f"{p50s:.1f}", f"{p99s:.1f}", f"{p50l:.1f}", f"{p99l:.1f}", f"{ratio:.2f}"]
        )
    small_name, large_name = f"{args.small:,}", f"{args.large:,}"
    headers = ["ms", f"{small_name} p50", "p99", f"{large_name} p50", "p99", "p50 ratio"]
    print(format_table(rows, headers))
    print(f"RSS (MiB) at the end: {json.dumps(rss)}")
    print(
        f"targets (ratio <= {TARGET_RATIO}, search p99 <= {TARGET_SEARCH_P99_MS} ms at "
        f"{large_name}) missed by: {', '.join(missed) or 'none'}"
    )
    servers.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (servers.RESULTS / f"scale-{stamp}.json").write_text(
        json.dumps({"rows": rows, "rss_mib": rss, "sizes": list(sizes)}, indent=2)
    )
    (servers.RESULTS / f"scale-plans-{stamp}.txt").write_text(plans)
    print(f"plans: {servers.RESULTS / f'scale-plans-{stamp}.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
