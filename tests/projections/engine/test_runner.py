"""The catch-up loop on PostgreSQL: exactly once under concurrent workers and writers, and a
read horizon that other databases' transactions do not hold back."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from orders.domain import commands as cmd
from orders.domain.errors import DomainError
from projections.engine import followers, runner
from projections.engine.generations import active_state
from projections.engine.tasks import catch_up
from projections.models import OrderView
from tests.projections import builders as b
from tests.projections.engine.support import (
    JOIN_TIMEOUT,
    Recording,
    applied_positions,
    in_threads,
    order_event_positions,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "lease_seconds", [30.0, 0.0001], ids=["leases-held", "leases-running-out-at-once"]
)
def test_workers_running_one_projection_at_once_apply_each_event_exactly_once(
    lease_seconds: float,
    settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
) -> None:
    settings.PROJECTION_BATCH_SIZE = 3
    # Leases that run out at once: every worker claims the cursor at every turn, from under
    # the others; the fencing token in each batch's swap alone keeps it exactly once.
    settings.PROJECTION_LEASE_SECONDS = lease_seconds
    for n in range(60):
        b.append_new_order(customer_id=f"cust-{n}")
    expected = order_event_positions()
    register_projection(Recording("counting"))
    start = threading.Barrier(4)

    def work(number: int) -> None:
        start.wait(timeout=JOIN_TIMEOUT)
        for _ in range(3):
            runner.run("counting")

    errors = in_threads(4, work)
    b.catch_up_until_applied(["counting"])

    assert not errors, errors
    applied = applied_positions("counting")
    assert [p for p, times in Counter(applied).items() if times > 1] == []
    assert applied == expected
    assert active_state("counting").events_applied == len(expected)


# --- (c) random writers while a projector loops ----------------------------------------------
WRITERS = 4
COMMANDS_PER_WRITER = 25


def random_command(rng: random.Random, orders: list[uuid.UUID], writer: int) -> cmd.Command:
    products = ["apple", "pear", "plum", "fig", "kiwi"]
    if not orders or rng.random() < 0.3:
        return cmd.CreateOrder(
            customer_id=f"cust-{rng.randrange(5)}",
            items=tuple(
                b.line(p, rng.randint(1, 5), f"{rng.randint(1, 9999) / 100:.2f}")
                for p in rng.sample(products, rng.randint(1, 3))
            ),
            shipping_address=b.address(rng.choice(["Springfield", "Shelbyville", "Ogdenville"])),
        )
    order_id = rng.choice(orders)
    roll = rng.random()
    if roll < 0.35:
        price = f"{rng.randint(1, 9999) / 100:.2f}"
        return cmd.AddOrderItem(
            order_id=order_id, item=b.line(rng.choice(products), rng.randint(1, 3), price)
        )
    if roll < 0.5:
        return cmd.RemoveOrderItem(order_id=order_id, product_id=rng.choice(products))
    if roll < 0.65:
        return cmd.ChangeShippingAddress(
            order_id=order_id, shipping_address=b.address(f"Town {writer}")
        )
    if roll < 0.8:
        return cmd.ShipOrder(order_id=order_id, carrier="UPS")
    return cmd.CancelOrder(order_id=order_id, reason=f"writer {writer} changed its mind")


def test_random_concurrent_writers_and_a_looping_projector_end_equal_to_a_fresh_rebuild(
    api: APIClient,
) -> None:
    orders: list[uuid.UUID] = []
    orders_lock = threading.Lock()
    stop = threading.Event()
    refused: Counter[str] = Counter()

    def project(_: int) -> None:
        while not stop.is_set():
            catch_up()
            stop.wait(0.002)

    def write(number: int) -> None:
        rng = random.Random(number)
        for _ in range(COMMANDS_PER_WRITER):
            with orders_lock:
                command = random_command(rng, list(orders), number)
            try:
                result = b.run_command(command, actor=f"writer-{number}")
            except DomainError as exc:  # conflicts and rules: the write side said no
                refused[exc.code] += 1
                continue
            if isinstance(command, cmd.CreateOrder):
                with orders_lock:
                    orders.append(uuid.UUID(result["order_id"]))

    projector_errors: list[BaseException] = []
    projector = threading.Thread(
        target=lambda: projector_errors.extend(in_threads(1, project)), daemon=True
    )
    projector.start()
    try:
        writer_errors = in_threads(WRITERS, write)
    finally:
        stop.set()
        projector.join(JOIN_TIMEOUT)
    b.catch_up_until_applied()

    assert not writer_errors, writer_errors
    assert not projector_errors, projector_errors
    assert len(orders) >= 10
    assert OrderView.objects.count() == len(orders)
    for order_id in orders:
        view = api.get(f"/api/orders/{order_id}").json()
        from_events = api.get(f"/api/orders/{order_id}/state").json()
        assert view == from_events, order_id
    incremental = b.read_tables()

    call_command("rebuild_projection", "--all", "--no-progress", stdout=StringIO())

    assert b.read_tables() == incremental


# --- the log's read horizon -------------------------------------------------------------------
def open_transaction_in_another_database() -> psycopg.Connection[Any]:
    """A session on the server's `postgres` database holding a transaction id, then idle."""
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname="postgres",
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
    )
    other.execute("SELECT pg_current_xact_id()")
    return other


def test_a_transaction_open_in_another_database_does_not_hold_the_projections_back() -> None:
    other = open_transaction_in_another_database()
    try:
        b.place_order(customer_id="blocked")  # commits; its wake-up runs the projectors
        for name in b.READ_MODEL_PROJECTIONS:
            runner.run(name)

        assert b.caught_up()
    finally:
        other.rollback()
        other.close()


def test_a_turn_that_read_events_says_more_may_remain_and_one_that_read_none_looks_again(
    settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
) -> None:
    """The catch-up task runs another round of every projection while a turn says more may
    remain. A turn that read events says so without looking (under load the log has grown
    meanwhile); a turn that read nothing looks once more after releasing its lock and says
    no only when the log holds nothing past its checkpoint."""
    settings.PROJECTION_BATCH_SIZE = 3
    register_projection(Recording("turns"))
    for n in range(5):
        b.append_new_order(customer_id=f"cust-{n}")

    assert runner.run_some("turns", max_batches=1) == (3, True)  # a full batch: two are left
    assert runner.run_some("turns", max_batches=1) == (2, True)  # to the end, without a look
    assert runner.run_some("turns", max_batches=1) == (0, False)  # nothing read, nothing more
    b.append_new_order()
    assert runner.run_some("turns", max_batches=1) == (1, True)
    assert runner.run_some("turns", max_batches=1) == (0, False)
    assert applied_positions("turns") == order_event_positions()
