"""Long streams: a command on a 10,000-event order with and without snapshots against a command
on a fresh order, and the first history page of a 20,000-event order (issue 20).

    python -m bench.streams [--events 10000] [--history-events 20000] [--rounds 5]
                            [--repeat 40] [--every 50,100]

Runs in its own database ``bench_streams`` (dropped, recreated and migrated) on the server
BENCH_PG_SERVER. Long orders are made of valid events (an order created, items added and
removed in turn, an address now and then: what the aggregate decides), appended 2,000 per
statement through the event store. Each unit is one ``AddOrderItem`` or ``RemoveOrderItem``
through ``orders.services.execute_command`` in-process (with an Idempotency-Key and full
metadata, as bench.commands; the projections' wake-up switched off, as there):

* fresh           a command on a fresh order (one made, untimed, before each command);
* 10k, snapshots  a command on an order of ``--events`` events, for each ORDER_SNAPSHOT_EVERY
                  of ``--every`` (its own order; its first command, untimed, writes the first
                  snapshot; later ones write theirs after their commit, inside the timing, as
                  in production);
* 10k, none       the same on another order of the same shape, ORDER_SNAPSHOT_EVERY=0.

A round times ``--repeat`` commands of each, interleaved one by one (their order rotating),
then a few without snapshots; each figure is the median command of a round, then the median
round; each ratio the median of the rounds' own ratios. The history
figures are whole requests through Django's test client (token authentication, middleware, the
view, rendering) on an order of ``--history-events`` events: the first page (the default
limit, 1,000 events), a page from the end, and all the pages one after another.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from typing import Any

from bench.common import machine_note, setup_django, spread

DB_NAME = "bench_streams"
TARGET_RATIO = 1.5  # issue 20: a command on a long order with snapshots, against a fresh one
FIRST_PAGE_TARGET_MS = 50.0
CHUNK = 2_000


def long_order_events(order_id: uuid.UUID, count: int) -> Iterator[Any]:
    """``count`` events the aggregate decides: created with one item, then items added and
    removed in turn (at most 100 products on the order), every 100th a new address."""
    from orders.domain.model import Order
    from orders.domain.values import Address, LineItem

    def address(n: int) -> Address:
        return Address(f"{n} Long Road", ("Lisbon", "Porto", "Faro")[n % 3], "1000-001", "PT")

    order = Order.create(
        order_id=order_id,
        customer_id="bench-long",
        items=[LineItem("part-000", 1, Decimal("2.50"))],
        shipping_address=address(0),
        currency="EUR",
    )
    n = 1
    while True:
        yield from order.pending
        order.version += len(order.pending)
        order.pending = []
        if order.version >= count:
            return
        n += 1
        product = f"part-{n % 100:03d}"
        if n % 100 == 0:
            order.change_shipping_address(address(n))
        elif product in order.lines and n % 3 == 0:
            order.remove_item(product)
        else:
            order.add_item(LineItem(product, 1 + n % 3, Decimal("2.50")))


def append_long_order(count: int) -> uuid.UUID:
    from eventstore import store
    from orders.streams import STREAM_TYPE, stream_id_for

    order_id = uuid.uuid4()
    chunk: list[Any] = []
    written = 0

    def flush() -> None:
        nonlocal written, chunk
        store.append_to_stream(
            stream_id_for(order_id),
            STREAM_TYPE,
            [
                store.NewEvent(
                    event_type=e.event_type,
                    data=e.to_payload(),
                    metadata={"actor": "bench"},
                    schema_version=e.schema_version,
                )
                for e in chunk
            ],
            expected_version=written,
        )
        written += len(chunk)
        chunk = []

    for event in long_order_events(order_id, count):
        chunk.append(event)
        if len(chunk) == CHUNK:
            flush()
    if chunk:
        flush()
    return order_id


class Commands:
    """Commands on one order, add and remove of one product in turn (always valid)."""

    def __init__(self, order_id: uuid.UUID) -> None:
        self.order_id = order_id
        self.added = False

    def one(self) -> None:
        from orders.domain import commands as cmd
        from orders.domain.values import LineItem
        from orders.services import execute_command

        command: cmd.Command
        if self.added:
            command = cmd.RemoveOrderItem(order_id=self.order_id, product_id="bench-extra")
        else:
            item = LineItem("bench-extra", 2, Decimal("4.20"))
            command = cmd.AddOrderItem(order_id=self.order_id, item=item)
        key = uuid.uuid4().hex
        execute_command(
            command, actor="bench", correlation_id=key, idempotency_key=key, request_hash=key
        )
        self.added = not self.added


def fresh_order() -> uuid.UUID:
    from orders.domain import commands as cmd
    from orders.domain.values import Address, LineItem
    from orders.services import execute_command

    command = cmd.CreateOrder(
        customer_id="bench-fresh",
        items=(LineItem("part-001", 1, Decimal("2.50")),),
        shipping_address=Address("1 Short St", "Lisbon", "1000-001", "PT"),
        currency="EUR",
    )
    execute_command(command, actor="bench", correlation_id="c")
    return command.order_id


def timed(step: Callable[[], Any]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def median_ms(
    step: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None
) -> float:
    timings = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        step()
        timings.append(time.perf_counter() - started)
    return 1000 * statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--history-events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument(
        "--every",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[50, 100],
        help="ORDER_SNAPSHOT_EVERY values to measure (comma-separated)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")  # the test client speaks http
    setup_django(DB_NAME)
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from bench.commands import switch_off_projection_wakeups
    from orders.models import OrderStateSnapshot

    switch_off_projection_wakeups()
    for name in ("orders.services", "ops.requests"):  # a line per command or request
        logging.getLogger(name).setLevel(logging.WARNING)
    print(machine_note())
    started = time.perf_counter()
    long_orders = {every: Commands(append_long_order(args.events)) for every in args.every}
    without = Commands(append_long_order(args.events))
    history_order = append_long_order(args.history_events)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"{len(long_orders) + 1} orders of {args.events:,} events and one of "
        f"{args.history_events:,} appended in {time.perf_counter() - started:.1f} s"
    )

    for every, commands in long_orders.items():
        settings.ORDER_SNAPSHOT_EVERY = every
        commands.one()  # folds every event once, and writes the first snapshot
        assert OrderStateSnapshot.objects.filter(order_id=commands.order_id).exists()

    def fresh_command() -> float:
        settings.ORDER_SNAPSHOT_EVERY = args.every[0]  # (a fresh order's load asks too)
        commands = Commands(fresh_order())
        return timed(commands.one)

    def long_command(every: int) -> float:
        settings.ORDER_SNAPSHOT_EVERY = every
        return timed(long_orders[every].one)

    # Commands interleaved one by one (fresh, then each snapshot setting, the order rotating),
    # so that the machine's other work falls on all of them alike; without snapshots (each
    # about 100 times slower) a block of its own.
    steps: dict[str, Callable[[], float]] = {"fresh": fresh_command}
    steps.update({f"every {every}": partial(long_command, every) for every in args.every})
    for step in steps.values():  # warm-up: connections, prepared statements
        step()
    names = list(steps)
    results: dict[str, list[float]] = {name: [] for name in [*names, "none"]}
    for number in range(args.rounds):
        timings: dict[str, list[float]] = {name: [] for name in names}
        for i in range(args.repeat):
            shift = (number + i) % len(names)
            for name in names[shift:] + names[:shift]:
                timings[name].append(steps[name]())
        for name in names:
            results[name].append(1000 * statistics.median(timings[name]))
        settings.ORDER_SNAPSHOT_EVERY = 0
        results["none"].append(
            1000 * statistics.median(timed(without.one) for _ in range(max(3, args.repeat // 8)))
        )

    def ratios(name: str) -> list[float]:
        return [s / f for s, f in zip(results[name], results["fresh"], strict=True)]

    print(f"\ncommand, median ms of {args.rounds} rounds (median command of each round)")
    labels = {
        "fresh": "fresh order (created just before)",
        "none": f"{args.events:,} events, no snapshots",
    }
    labels.update(
        {f"every {e}": f"{args.events:,} events, snapshots every {e}" for e in args.every}
    )
    for name in [*names, "none"]:
        line = f"  {labels[name]:<42} {statistics.median(results[name]):8.2f} ms"
        if name != "fresh":
            line += (
                f"   x{statistics.median(ratios(name)):.2f} of fresh "
                f"(rounds: {', '.join(f'{r:.2f}' for r in ratios(name))})"
            )
        print(line)
    for every, commands in long_orders.items():
        ratio = statistics.median(ratios(f"every {every}"))
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        written = OrderStateSnapshot.objects.filter(order_id=commands.order_id).count()
        print(
            f"  snapshots every {every}: x{ratio:.2f} (target <= x{TARGET_RATIO}: {verdict}); "
            f"{written} snapshots written on its order"
        )

    user = User.objects.create_user(f"bench-{uuid.uuid4().hex[:8]}")
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    path = f"/api/orders/{history_order}/history"
    last_page = args.history_events - 999

    def first_page() -> None:
        answer = client.get(path)
        assert answer.status_code == 200 and answer.has_header("Link")

    def page_at_the_end() -> None:
        assert client.get(path, {"from_version": last_page}).status_code == 200

    def every_page() -> None:
        url: str | None = path
        while url:
            answer = client.get(url)
            link = answer.headers.get("Link")
            url = link[1 : link.index(">")] if link else None

    first = client.get(path)
    print(
        f"\nhistory of a {args.history_events:,}-event order, whole requests (Django test client, "
        f"token), median ms of {args.rounds} rounds"
    )
    print(f"  first page: {len(first.json())} events, {len(first.content):,} bytes")
    for label, request, repeat in (
        ("first page (limit 1000)", first_page, args.repeat),
        (f"page from version {last_page:,}", page_at_the_end, args.repeat),
        (f"all {args.history_events // 1000} pages", every_page, 3),
    ):
        request()
        rounds = [median_ms(request, repeat) for _ in range(args.rounds)]
        print(f"  {label:<34} {statistics.median(rounds):9.1f} ms ({spread(rounds)})")
        if label.startswith("first"):
            met = statistics.median(rounds) < FIRST_PAGE_TARGET_MS
            verdict = "met" if met else "NOT met"
            print(f"  target: first page < {FIRST_PAGE_TARGET_MS:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
