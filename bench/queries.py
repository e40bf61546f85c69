"""Query cost: what building bodies through the output serializers costs per request.

    python -m bench.queries [--events 100000] [--rounds 5] [--repeat 200] [--seed 7]

Fills a fresh database (``bench_queries``) with the catch-up benchmark's order log, projects
it (order_views), then measures, round by round with the order of the two alternating:

- *hand-built*: the read path before output serializers: the page's rows, their items
  read with ``generation = g AND order_id IN (...)``, dicts built by hand (money formatted
  with ``f"{x:.2f}"``), rendered by DRF's JSONRenderer;
- *serializer*: today's path: the selector's rows and ``selectors.with_items`` (the same
  items query), ``OrderViewOut(rows, many=True).data``, rendered.

for a page of 100 order views and for one order view; each both "from the database" (rows
and items read, body built and rendered) and "body only" (the rows already in memory). The two
paths must produce the same bytes, or the run stops. Last, whole requests through Django's
test client (token authentication, middleware, routing, the view, rendering) for scale.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bench.common import machine_note, setup_django, spread

DB_NAME = "bench_queries"


def _money(value: Any) -> str:
    return f"{value:.2f}"


def items_by_query(rows: list[Any], generation: int) -> dict[Any, list[Any]]:
    """The items of ``rows`` as the selectors read them before (``order_id IN (...)``)."""
    from projections.read_models.models import OrderViewItem

    items: dict[Any, list[Any]] = defaultdict(list)
    for item in OrderViewItem.objects.filter(
        generation=generation, order_id__in=[row.order_id for row in rows]
    ).order_by("order_id", "line_no"):
        items[item.order_id].append(item)
    return items


def hand_built(rows: list[Any], items: dict[Any, list[Any]]) -> list[dict[str, Any]]:
    """The order-view bodies as the selectors built them before output serializers."""
    return [
        {
            "order_id": str(row.order_id),
            "customer_id": row.customer_id,
            "status": row.status,
            "currency": row.currency,
            "total_amount": _money(row.total_amount),
            "item_count": row.item_count,
            "items": [
                {
                    "product_id": item.product_id,
                    "quantity": item.quantity,
                    "unit_price": _money(item.unit_price),
                    "line_total": _money(item.line_total),
                }
                for item in items[row.order_id]
            ],
            "shipping_address": row.shipping_address,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "shipped_at": row.shipped_at,
            "cancelled_at": row.cancelled_at,
            "cancel_reason": row.cancel_reason,
            "version": row.version,
        }
        for row in rows
    ]


def timed(step: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``step``."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    setup_django(DB_NAME)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from rest_framework.authtoken.models import Token
    from rest_framework.renderers import JSONRenderer

    from bench.catchup import fill_log
    from orders.api.serializers import OrderViewOut
    from projections.engine.generations import active_generation
    from projections.engine.rebuild import rebuild
    from projections.read_models import selectors
    from projections.read_models.models import OrderView

    print(machine_note())
    fill_log(args.events, args.seed, database=DB_NAME)
    rebuild("order_views")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    generation = active_generation("order_views")
    orders = OrderView.objects.filter(generation=generation)
    print(f"{args.events} events, {orders.count()} order views (generation {generation})")

    rng = random.Random(args.seed)
    order_ids = list(orders.values_list("order_id", flat=True)[:2000])
    renderer = JSONRenderer()

    def pick(rows: Any, size: int) -> Any:
        if size == 1:
            return rows.filter(order_id=rng.choice(order_ids))
        start = rng.randrange(0, 2000 - size + 1)
        return rows.order_by("-created_at", "-order_id")[start : start + size]

    def old_path(size: int) -> bytes:
        active = active_generation("order_views")  # as the selectors asked, per query
        rows = list(pick(OrderView.objects.filter(generation=active), size))
        return renderer.render(hand_built(rows, items_by_query(rows, active)))

    def new_path(size: int) -> bytes:
        rows = selectors.with_items(list(pick(selectors.order_view_list(), size)))
        return renderer.render(OrderViewOut(rows, many=True).data)

    def old_body(rows: list[Any]) -> bytes:
        return renderer.render(hand_built(rows, {row.order_id: row.items for row in rows}))

    def new_body(rows: list[Any]) -> bytes:
        return renderer.render(OrderViewOut(rows, many=True).data)

    # The same rows answer the same JSON both ways, fields in the same order. (Inside
    # shipping_address the hand-built path kept jsonb's key order; the serializer writes the
    # contract's: line1, line2, city, postal_code, country.)
    sample = selectors.with_items(
        list(selectors.order_view_list().order_by("-created_at", "-order_id")[:100])
    )
    old_json = json.loads(renderer.render(hand_built(sample, items_by_query(sample, generation))))
    new_json = json.loads(new_body(sample))
    if old_json != new_json or [list(o) for o in old_json] != [list(o) for o in new_json]:
        print("!! the two paths answer different JSON")
        return 1

    sizes = {"page of 100": 100, "one order view": 1}
    systems = {
        "hand-built": (old_path, old_body),
        "serializer": (new_path, new_body),
    }
    results: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for number in range(args.rounds):
        order = list(systems) if number % 2 == 0 else list(reversed(systems))
        for label, size in sizes.items():
            for name in order:
                path, body = systems[name]
                results[(label, "from the database", name)].append(
                    timed(lambda path=path, size=size: path(size), args.repeat)
                )
                results[(label, "body only", name)].append(
                    timed(lambda body=body, size=size: body(sample[:size]), args.repeat)
                )

    print(f"\nmedian µs per request, {args.rounds} rounds of {args.repeat} (spread of rounds)")
    for label in sizes:
        for part in ("from the database", "body only"):
            old = results[(label, part, "hand-built")]
            new = results[(label, part, "serializer")]
            extra = [1e6 * (n - o) for n, o in zip(new, old, strict=True)]
            print(
                f"  {label:<15} {part:<18} hand-built {1e6 * statistics.median(old):8.0f} "
                f"serializer {1e6 * statistics.median(new):8.0f}  "
                f"extra {statistics.median(extra):+7.0f} ({spread(extra)})"
            )

    user = User.objects.create_user(f"bench-{uuid.uuid4().hex[:8]}")
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    customer = orders.values_list("customer_id", flat=True).first()
    requests = {
        "GET /api/orders/{id}": lambda: client.get(f"/api/orders/{rng.choice(order_ids)}"),
        "GET /api/orders/search?page_size=100": lambda: client.get(
            "/api/orders/search", {"page_size": 100, "page": rng.randint(1, 20)}
        ),
        "GET /api/customers/{id}/orders": lambda: client.get(f"/api/customers/{customer}/orders"),
    }
    print("\nwhole requests (Django test client, in process), median µs")
    for label, request in requests.items():
        assert request().status_code == 200
        rounds = [1e6 * timed(request, args.repeat) for _ in range(args.rounds)]
        print(f"  {label:<40} {statistics.median(rounds):8.0f} ({spread(rounds)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
