"""Back office pages on a large log: 1,000,000 events of 200,000 orders and one order of 20,000
events, filled by SQL.

    python -m bench.admin [--orders 200000] [--long-stream 20000] [--requests 100] [--no-fill]

Fills a fresh database (``bench_admin``) in a few SQL statements: five events per order (created,
two items added, the address changed, then shipped, cancelled or the address changed again),
one order after another over 200 days, with the read models (order views and their items,
customer summaries, daily sales and its per-order facts) written to match; then one long order
(its items added and removed in turn, a new address every hundredth event: its events and the
snapshots its commands would have left, one per thousand versions, but no read-model rows) and
every projection's checkpoint at the head. Then requests each page
through Django's test client as a logged-in superuser (the whole stack: middleware, the admin,
templates, the stale banner's status look), the pages taking turns request by request, and
prints p50/p99 per page, the SQL one request of each page ran (with its time) and the plans of
the statements that read the log or a read table. Pages marked "no kept states" are requested
after emptying Django's cache each time (not timed): a timeline's first view in a fresh
process, folding from the order's nearest snapshot. Results: docs/benchmarks.md ("Back office").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import format_table, machine_note, setup_django

DB_NAME = "bench_admin"
EVENTS_PER_ORDER = 5
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_P99_MS = 300.0

# One statement per table. Order i's events are positions 5i-4 .. 5i, recorded 17.28 s apart
# (200 days for 1,000,000 events); its three products are distinct; a fifth of the orders are
# cancelled, three fifths shipped, the rest pending. (%% is psycopg's way to write %.)
FILL_SQL = """
CREATE TEMP TABLE bench_order AS
SELECT i,
       md5('order-' || i)::uuid AS order_id,
       'customer-' || (i %% 20000) AS customer_id,
       'SKU-' || lpad((i %% 300)::text, 3, '0') AS p1,
       'SKU-' || lpad(((i + 101) %% 300)::text, 3, '0') AS p2,
       'SKU-' || lpad(((i + 202) %% 300)::text, 3, '0') AS p3,
       1 + i %% 3 AS q1,
       (ARRAY['Berlin', 'Lisbon', 'Oslo', 'Austin', 'Kyoto', 'Lyon'])[1 + i %% 6] AS city,
       (ARRAY['Porto', 'Bergen', 'Osaka'])[1 + i %% 3] AS new_city,
       CASE WHEN i %% 5 = 0 THEN 'cancelled' WHEN i %% 5 = 4 THEN 'pending' ELSE 'shipped' END
           AS status,
       %(start)s::timestamptz + ((i - 1) * 5) * interval '17.28 seconds' AS created_at
FROM generate_series(1, %(orders)s) AS i;

INSERT INTO eventstore_event (global_position, event_id, stream_id, stream_type, version,
                              event_type, schema_version, data, metadata, recorded_at)
SELECT (o.i - 1) * 5 + v,
       md5('event-' || o.i || '-' || v)::uuid,
       'Order-' || o.order_id, 'Order', v,
       CASE v WHEN 1 THEN 'OrderCreated' WHEN 2 THEN 'OrderItemAdded'
              WHEN 3 THEN 'OrderItemAdded' WHEN 4 THEN 'ShippingAddressChanged'
              ELSE CASE o.status WHEN 'shipped' THEN 'OrderShipped'
                                 WHEN 'cancelled' THEN 'OrderCancelled'
                                 ELSE 'ShippingAddressChanged' END END,
       1,
       CASE v
         WHEN 1 THEN jsonb_build_object('order_id', o.order_id, 'customer_id', o.customer_id,
              'currency', 'USD',
              'items', jsonb_build_array(jsonb_build_object(
                  'product_id', o.p1, 'quantity', o.q1, 'unit_price', '10.00')),
              'shipping_address', jsonb_build_object('line1', '1 Main St', 'line2', '',
                  'city', o.city, 'postal_code', '10115', 'country', 'DE'))
         WHEN 2 THEN jsonb_build_object('order_id', o.order_id, 'product_id', o.p2,
              'quantity', 1, 'unit_price', '5.50')
         WHEN 3 THEN jsonb_build_object('order_id', o.order_id, 'product_id', o.p3,
              'quantity', 1, 'unit_price', '5.50')
         WHEN 4 THEN jsonb_build_object('order_id', o.order_id, 'shipping_address',
              jsonb_build_object('line1', '2 Side St', 'line2', '', 'city', o.new_city,
                  'postal_code', '20095', 'country', 'DE'))
         ELSE CASE o.status
           WHEN 'shipped' THEN jsonb_build_object('order_id', o.order_id, 'carrier', 'UPS',
                'tracking_number', '1Z' || o.i)
           WHEN 'cancelled' THEN jsonb_build_object('order_id', o.order_id,
                'reason', 'customer changed mind')
           ELSE jsonb_build_object('order_id', o.order_id, 'shipping_address',
                jsonb_build_object('line1', '2 Side St', 'line2', '', 'city', o.new_city,
                    'postal_code', '20095', 'country', 'DE')) END
       END,
       jsonb_build_object('command_id', md5('command-' || o.i || '-' || v)::uuid,
                          'causation_id', md5('command-' || o.i || '-' || v)::uuid,
                          'correlation_id', md5('correlation-' || o.i || '-' || v)::uuid,
                          'command_type', 'Bench', 'actor', 'bench'),
       o.created_at + (v - 1) * interval '17.28 seconds'
FROM bench_order AS o CROSS JOIN generate_series(1, 5) AS v
ORDER BY 1;

SELECT setval(pg_get_serial_sequence('eventstore_event', 'global_position'),
              (SELECT max(global_position) FROM eventstore_event));

INSERT INTO projections_orderview (generation, order_id, customer_id, status, currency,
    total_amount, item_count, shipping_address, created_at, updated_at, shipped_at,
    cancelled_at, cancel_reason, carrier, tracking_number, version, search_text)
SELECT 1, order_id, customer_id, status, 'USD', q1 * 10 + 11, q1 + 2,
       jsonb_build_object('line1', '2 Side St', 'line2', '', 'city', new_city,
                          'postal_code', '20095', 'country', 'DE'),
       created_at, created_at + 4 * interval '17.28 seconds',
       CASE WHEN status = 'shipped' THEN created_at + 4 * interval '17.28 seconds' END,
       CASE WHEN status = 'cancelled' THEN created_at + 4 * interval '17.28 seconds' END,
       CASE WHEN status = 'cancelled' THEN 'customer changed mind' END,
       CASE WHEN status = 'shipped' THEN 'UPS' ELSE '' END,
       CASE WHEN status = 'shipped' THEN '1Z' || i ELSE '' END,
       5,
       concat_ws(' ', customer_id, p1, p2, p3, new_city,
                 CASE WHEN status = 'cancelled' THEN 'customer changed mind' END)
FROM bench_order;

INSERT INTO projections_orderviewitem (generation, order_id, line_no, product_id, quantity,
                                       unit_price, line_total)
SELECT 1, order_id, line_no, product_id, quantity, price, quantity * price
FROM bench_order,
     LATERAL (VALUES (1, p1, q1, 10.00), (2, p2, 1, 5.50), (3, p3, 1, 5.50))
         AS line(line_no, product_id, quantity, price);

INSERT INTO projections_salesorderfact (generation, order_id, customer_id, status, lines,
    total_amount, item_count, created_at, shipped_at, cancelled_at)
SELECT 1, v.order_id, v.customer_id, v.status,
       jsonb_build_array(jsonb_build_array(o.p1, o.q1, '10.00'),
                         jsonb_build_array(o.p2, 1, '5.50'), jsonb_build_array(o.p3, 1, '5.50')),
       v.total_amount, v.item_count, v.created_at, v.shipped_at, v.cancelled_at
FROM projections_orderview AS v JOIN bench_order AS o USING (order_id);

INSERT INTO projections_customersummary (generation, customer_id, order_count,
    open_order_count, cancelled_count, lifetime_value, last_order_at)
SELECT 1, customer_id, count(*), count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'cancelled'),
       coalesce(sum(total_amount) FILTER (WHERE status <> 'cancelled'), 0), max(created_at)
FROM projections_orderview GROUP BY customer_id;

INSERT INTO projections_dailysales (generation, date, orders_placed, orders_cancelled,
    orders_shipped, gross_revenue, items_sold)
SELECT 1, day, sum(placed), sum(cancelled), sum(shipped), sum(revenue), sum(items)
FROM (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS placed, 0 AS cancelled,
           0 AS shipped,
           CASE WHEN status <> 'cancelled' THEN total_amount ELSE 0 END AS revenue,
           CASE WHEN status <> 'cancelled' THEN item_count ELSE 0 END AS items
    FROM projections_orderview
    UNION ALL
    SELECT (cancelled_at AT TIME ZONE 'UTC')::date, 0, 1, 0, 0, 0
    FROM projections_orderview WHERE cancelled_at IS NOT NULL
    UNION ALL
    SELECT (shipped_at AT TIME ZONE 'UTC')::date, 0, 0, 1, 0, 0
    FROM projections_orderview WHERE shipped_at IS NOT NULL
) AS facts
GROUP BY day;

%(long_stream)s

UPDATE projections_projectionstate AS s
SET tx_id = head.tx_id, position = head.global_position, events_applied = head.global_position,
    updated_at = now()
FROM (SELECT tx_id::text::bigint AS tx_id, global_position FROM eventstore_event
      ORDER BY tx_id DESC, global_position DESC LIMIT 1) AS head
WHERE s.active;
"""


# One order of %(events)s events after the others: created with one item, then an item added
# (even versions) and removed again (odd ones), a new address every hundredth version (and the
# item after it added, not removed), recorded a second apart over the last hours. Its adds are
# OrderItemAdded v2, as today's commands write them: a read of v1 adds folds the stream's lines
# from its start (orders.upcasters), 20,000 events for each page here (docs/benchmarks.md).
LONG_STREAM_SQL = """
INSERT INTO eventstore_event (event_id, stream_id, stream_type, version, event_type,
                              schema_version, data, metadata, recorded_at)
SELECT md5('long-event-' || v)::uuid, 'Order-' || %(long_order)s, 'Order', v,
       CASE WHEN v = 1 THEN 'OrderCreated'
            WHEN v %% 100 = 0 THEN 'ShippingAddressChanged'
            WHEN v %% 2 = 0 OR (v - 1) %% 100 = 0 THEN 'OrderItemAdded'
            ELSE 'OrderItemRemoved' END,
       CASE WHEN v > 1 AND v %% 100 <> 0 AND (v %% 2 = 0 OR (v - 1) %% 100 = 0) THEN 2
            ELSE 1 END,
       CASE WHEN v = 1 THEN jsonb_build_object('order_id', %(long_order)s,
                'customer_id', 'long-customer', 'currency', 'USD',
                'items', jsonb_build_array(jsonb_build_object(
                    'product_id', 'base', 'quantity', 1, 'unit_price', '1.00')),
                'shipping_address', jsonb_build_object('line1', '1 Long Rd', 'line2', '',
                    'city', 'Lisbon', 'postal_code', '1000', 'country', 'PT'))
            WHEN v %% 100 = 0 THEN jsonb_build_object('order_id', %(long_order)s,
                'shipping_address', jsonb_build_object('line1', v || ' Long Rd', 'line2', '',
                    'city', (ARRAY['Porto', 'Faro', 'Braga'])[1 + v / 100 %% 3],
                    'postal_code', '4000', 'country', 'PT'))
            WHEN v %% 2 = 0 OR (v - 1) %% 100 = 0 THEN jsonb_build_object(
                'order_id', %(long_order)s, 'product_id', 'part-' || lpad((v %% 400)::text, 3, '0'),
                'quantity', 1, 'unit_price', '2.50',
                -- v2: the line after the add. An even version's product was removed right after
                -- its last add; the one after an address change stays, adding up every 400.
                'line', jsonb_build_object('unit_price', '2.50', 'quantity',
                    CASE WHEN v %% 2 = 0 THEN 1
                         ELSE (v - CASE WHEN v %% 400 = 1 THEN 401 ELSE v %% 400 END) / 400 + 1
                    END))
            ELSE jsonb_build_object('order_id', %(long_order)s,
                'product_id', 'part-' || lpad(((v - 1) %% 400)::text, 3, '0')) END,
       jsonb_build_object('command_id', md5('long-command-' || v)::uuid,
                          'causation_id', md5('long-command-' || v)::uuid,
                          'correlation_id', md5('long-correlation-' || v)::uuid,
                          'command_type', 'Bench', 'actor', 'clerk-' || (v %% 7)),
       now() - interval '6 hours' + v * interval '1 second'
FROM generate_series(1, %(events)s) AS v
ORDER BY v;
"""
LONG_ORDER = "5a1e5000-0000-4000-8000-000000020000"


def fill(orders: int, long_stream: int) -> None:
    from django.db import connection, transaction

    start = datetime.now(UTC).replace(microsecond=0)
    start = start.fromtimestamp(start.timestamp() - 200 * 86400, UTC)
    began = time.perf_counter()
    long_sql = LONG_STREAM_SQL.replace("%(events)s", str(long_stream)) if long_stream else ""
    with transaction.atomic(), connection.cursor() as cursor:
        # A million rows in one statement may take longer than the service's statement limit.
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute(
            FILL_SQL.replace("%(long_stream)s", long_sql),
            {"start": start, "orders": orders, "long_order": LONG_ORDER},
        )
    if long_stream:
        snapshot_long_order(long_stream)
    filled = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"filled {orders:,} orders, {orders * EVENTS_PER_ORDER:,} events and their read models, "
        f"and an order of {long_stream:,} events in {filled:.1f} s "
        f"(+ VACUUM ANALYZE {time.perf_counter() - began - filled:.1f} s)"
    )


def snapshot_long_order(long_stream: int) -> None:
    """The snapshots commands would have left on the long order (orders.snapshots): about one
    per KEEP_ONE_PER versions, and its latest."""
    import uuid

    from django.db import transaction
    from django.utils import timezone

    from orders import snapshots
    from orders.repository import load_order

    versions = [*range(snapshots.KEEP_ONE_PER, long_stream, snapshots.KEEP_ONE_PER), long_stream]
    for version in versions:
        with transaction.atomic():  # each written once this commits, as after a command
            order, _events, _used, address_version = load_order(
                uuid.UUID(LONG_ORDER), version=version
            )
            snapshots.take_after_commit(order, address_version, timezone.now(), None)


def order_id(i: int) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(f"order-{i}".encode()).hexdigest()))


def correlation_id(i: int, version: int) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(f"correlation-{i}-{version}".encode()).hexdigest()))


# Pages requested with Django's cache emptied before each request (see the module's docstring).
COLD = frozenset({"timeline 20,000: newest page, no kept states"})


def pages(orders: int, long_stream: int, rng: random.Random) -> dict[str, Callable[[], str]]:
    """Each page's URL (a fresh random order or id per request where the page takes one)."""
    from eventstore.store import head_position

    head = head_position()
    per_page = 50
    long_timeline = f"/admin/streams/Order-{LONG_ORDER}/"
    long_history = f"/admin/projections/orderview/{LONG_ORDER}/history/"

    def one() -> int:
        return rng.randint(1, orders)

    def version() -> int:
        return rng.randint(1, long_stream)

    long_pages: dict[str, Callable[[], str]] = {
        "timeline 20,000: newest page": lambda: long_timeline,
        "timeline 20,000: newest page, no kept states": lambda: long_timeline,
        "timeline 20,000: jump to a version": lambda: f"{long_timeline}?to={version()}",
        "timeline 20,000: state at a version": lambda: (
            f"{long_timeline}?to={long_stream}&version={version()}"
        ),
        "history 20,000: newest page": lambda: long_history,
        "history 20,000: jump to a version": lambda: f"{long_history}?to={version()}",
    }
    return {
        "events: first page": lambda: "/admin/eventstore/event/",
        "events: page 1,000": lambda: (
            f"/admin/eventstore/event/?before={head - per_page * 999 + 1}"
        ),
        "events: page 10,000": lambda: (
            f"/admin/eventstore/event/?before={head - per_page * 9999 + 1}"
        ),
        "events: by type (OrderCancelled)": lambda: (
            "/admin/eventstore/event/?event_type=OrderCancelled"
        ),
        "events: a day 150 days back": lambda: f"/admin/eventstore/event/?{day_back(150)}",
        "events: search bare order id": lambda: f"/admin/eventstore/event/?q={order_id(one())}",
        "events: search correlation id": lambda: (
            f"/admin/eventstore/event/?q={correlation_id(one(), rng.randint(1, 5))}"
        ),
        "event detail": lambda: f"/admin/eventstore/event/{rng.randint(1, head)}/change/",
        "order timeline": lambda: f"/admin/streams/Order-{order_id(one())}/",
        "orders: first page": lambda: "/admin/projections/orderview/",
        "orders: status cancelled": lambda: "/admin/projections/orderview/?status=cancelled",
        "orders: search city": lambda: "/admin/projections/orderview/?q=Bergen",
        "order detail": lambda: f"/admin/projections/orderview/{order_id(one())}/change/",
        "order history (5 events)": lambda: (
            f"/admin/projections/orderview/{order_id(one())}/history/"
        ),
        "dashboard": lambda: "/admin/",
        "projections": lambda: "/admin/projections/projectionstate/",
        "projections: progress (JSON)": lambda: "/admin/projections/projectionstate/progress/",
        "new order form": lambda: "/admin/projections/orderview/new/",
        "a command's form (add item)": lambda: (
            f"/admin/projections/orderview/{order_id(one())}/add-item/"
        ),
        "customers": lambda: "/admin/projections/customersummary/",
        "daily sales (chart, totals of 200 days)": lambda: "/admin/projections/dailysales/",
        "section: orders": lambda: "/admin/section/orders/",
        "streams (lately changed)": lambda: "/admin/streams/",
        "API tokens": lambda: "/admin/backoffice/apitoken/",
        **(long_pages if long_stream else {}),
    }


def day_back(days: int) -> str:
    """The date filter's parameters for the whole UTC day ``days`` ago."""
    from datetime import timedelta
    from urllib.parse import urlencode

    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=days)
    return urlencode(
        {"recorded_at__gte": str(start), "recorded_at__lt": str(start + timedelta(days=1))}
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(
    client: Any, urls: dict[str, Callable[[], str]], requests: int
) -> dict[str, list[float]]:
    """``requests`` requests of each page, the pages interleaved one request at a time (their
    order rotating), so a burst of load from elsewhere on the machine falls on every page;
    then the COLD pages, each request after emptying Django's cache (apart: emptying it
    between the others would make them cold too)."""
    from django.core.cache import cache

    timings: dict[str, list[float]] = {name: [] for name in urls}
    warm = [name for name in urls if name not in COLD]
    for number in range(requests):
        shift = number % len(warm)
        for name in warm[shift:] + warm[:shift]:
            timings[name].append(timed(client, urls[name]()))
    for name in (name for name in urls if name in COLD):
        for _ in range(requests):
            url = urls[name]()
            cache.clear()
            timings[name].append(timed(client, url))
    return timings


def timed(client: Any, url: str) -> float:
    began = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed


# Statements every admin page runs (session, user) or that read a handful of state rows.
ROUTINE = ("django_session", "auth_user", "projections_projectionstate")


def statements(client: Any, url: str) -> list[dict[str, Any]]:
    """The SQL one request of ``url`` runs (each with its time) and, for each statement that
    reads the log or a read table, its plan with the server's execution time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    found = [{"ms": float(q["time"]) * 1000, "sql": q["sql"]} for q in captured.captured_queries]
    with connection.cursor() as cursor:
        for query in found:
            sql = query["sql"].strip()
            if any(table in sql for table in ROUTINE) or not sql.upper().startswith(
                ("SELECT", "WITH")
            ):
                continue
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}")
            query["plan"] = [row[0] for row in cursor.fetchall()]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument(
        "--long-stream", type=int, default=20_000, help="events of the long order (0: none)"
    )
    parser.add_argument("--requests", type=int, default=100, help="per page")
    parser.add_argument("--no-fill", action="store_true", help="reuse the database as it is")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    # The test client speaks plain HTTP, as the service does behind its TLS proxy: no redirect.
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    # One JSON line per request on stderr would bury the results (its cost is the web bench's).
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Production's static files storage names files from collectstatic's manifest.
    os.environ.setdefault("DJANGO_STATIC_ROOT", tempfile.mkdtemp(prefix="bench-admin-static-"))
    setup_django(DB_NAME, recreate=not args.no_fill)
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    from django.contrib.auth.models import User
    from django.test import Client

    print(f"bench.admin: database {DB_NAME}, {machine_note()}")
    if not args.no_fill:
        fill(args.orders, args.long_stream)
    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    urls = pages(args.orders, args.long_stream, random.Random(args.seed))
    for url in urls.values():  # warm: templates compiled, connection open, caches as in use
        client.get(url())
    timings = measure(client, urls, args.requests)

    rows = []
    for name, values in timings.items():
        p99 = percentile(values, 0.99)
        rows.append(
            (
                name,
                len(values),
                f"{statistics.median(values):.1f}",
                f"{p99:.1f}",
                "ok" if p99 < TARGET_P99_MS else "OVER",
            )
        )
    print()
    print(
        format_table(
            rows, ["page", "requests", "p50 ms", "p99 ms", f"p99 < {TARGET_P99_MS:.0f} ms"]
        )
    )

    sql = {name: statements(client, make()) for name, make in urls.items()}
    print("\nSQL per page (one request; ms each, to the millisecond; plans with their own time)")
    for name, found in sql.items():
        print(f"\n## {name}")
        for query in found:
            print(f"  {query['ms']:5.0f}  {query['sql']}")
            for line in query.get("plan", []):
                print(f"         | {line}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"admin-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"timings": timings, "sql": sql}, indent=1))
    print(f"\n({machine_note()}; results written to {out})")


if __name__ == "__main__":
    main()
