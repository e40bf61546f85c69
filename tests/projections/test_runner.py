"""The projection runner on PostgreSQL: poison events, exactly-once under concurrent workers."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from io import StringIO
from typing import Any, ClassVar

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from eventstore.models import Event
from eventstore.store import RecordedEvent
from orders.domain import commands as cmd
from orders.domain.errors import DomainError
from projections.engine import base, runner
from projections.engine.tasks import catch_up
from projections.models import OrderView, ProjectionSkip, ProjectionStatus
from projections.read_models.folding import ORDER_EVENT_TYPES
from tests.projections import builders as b
from tests.projections.conftest import APPLIED_TABLE
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_TIMEOUT = 60.0


class Recording(base.Projection):
    """Records each event it applies in the scratch table, inside the runner's transaction, so
    a rolled-back batch leaves no trace. Raises on the events named poison."""

    handles: ClassVar[frozenset[str]] = ORDER_EVENT_TYPES
    tables = ()

    def __init__(self, name: str, *, poison: Sequence[int] = ()) -> None:
        self.name = name  # type: ignore[misc]
        self.poison = set(poison)

    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        with connection.cursor() as cursor:
            for event in events:
                if event.global_position in self.poison:
                    raise ValueError(f"cannot project the event at {event.global_position}")
                cursor.execute(
                    f"INSERT INTO {APPLIED_TABLE} (projection, generation, position) "
                    "VALUES (%s, %s, %s)",
                    [self.name, generation, event.global_position],
                )


def applied_positions(name: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT position FROM {APPLIED_TABLE} WHERE projection = %s ORDER BY position",
            [name],
        )
        return [row[0] for row in cursor.fetchall()]


def order_event_positions() -> list[int]:
    return sorted(
        Event.objects.filter(event_type__in=ORDER_EVENT_TYPES).values_list(
            "global_position", flat=True
        )
    )


def projection_rows(api: APIClient) -> dict[str, dict[str, Any]]:
    response = api.get("/api/projections")
    assert response.status_code == 200
    return {row["name"]: row for row in response.json()}


def in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run ``target(n)`` in ``count`` threads, each on its own connection; returns their errors."""
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            target(number)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a worker thread did not finish"
    return errors


@pytest.fixture
def poison_settings(settings: Any) -> Any:
    settings.PROJECTION_RETRY_BACKOFF_SECONDS = 0
    settings.PROJECTION_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def five_orders() -> list[dict[str, Any]]:
    """Five orders (one event each), applied by the real projections, all readable."""
    orders = [b.place_order(customer_id=f"cust-{n}") for n in range(5)]
    b.catch_up_until_applied()
    return orders


# --- (a) poison events ----------------------------------------------------------------------
def test_a_poison_event_fails_only_its_projection_and_a_recorded_skip_loses_nothing_after_it(
    api: APIClient,
    poison_settings: Any,
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    before, poison, after = five_orders[:2], five_orders[2], five_orders[3:]
    register_projection(Recording("poisoned", poison=[poison["position"]]))

    first = runner.run("poisoned")

    state = runner.active_state("poisoned")
    assert first == 2  # the events before the poison, found one at a time
    assert applied_positions("poisoned") == [o["position"] for o in before]
    assert (state.status, state.attempts, state.error_position) == (
        ProjectionStatus.RUNNING,
        1,
        poison["position"],
    )
    assert projection_rows(api)["poisoned"]["status"] == "stalled"  # retrying with backoff

    assert [runner.run("poisoned") for _ in range(3)] == [0, 0, 0]

    state.refresh_from_db()
    assert (state.status, state.attempts, state.position) == (
        ProjectionStatus.FAILED,
        3,
        before[-1]["position"],
    )
    assert state.last_error == (
        f"OrderCreated at position {poison['position']}: "
        f"ValueError: cannot project the event at {poison['position']}"
    )
    assert applied_positions("poisoned") == [o["position"] for o in before]

    # New events keep coming: the real projections keep up, the failed one stays put.
    later = b.place_order(customer_id="cust-later")
    b.catch_up_until_applied()
    rows = projection_rows(api)
    for name in b.READ_MODEL_PROJECTIONS:
        assert (rows[name]["status"], rows[name]["lag_events"]) == ("running", 0), name
    assert rows["poisoned"]["status"] == "failed"
    assert rows["poisoned"]["last_error"] == state.last_error
    assert rows["poisoned"]["lag_events"] == 4
    assert runner.active_state("poisoned").attempts == 3

    runner.retry("poisoned")
    assert runner.active_state("poisoned").status == ProjectionStatus.RUNNING
    assert runner.run("poisoned") == 0  # still failing
    state.refresh_from_db()
    assert (state.attempts, state.error_position) == (1, poison["position"])

    record = runner.skip("poisoned", reason="payload written by a broken importer", actor="ops")

    event = Event.objects.get(global_position=poison["position"])
    assert (record.name, record.position, record.event_id, record.event_type) == (
        "poisoned",
        poison["position"],
        event.event_id,
        "OrderCreated",
    )
    assert (record.reason, record.actor) == ("payload written by a broken importer", "ops")
    assert record.error == state.last_error
    assert runner.run("poisoned") == 3
    expected = [o["position"] for o in (*before, *after, later)]
    assert applied_positions("poisoned") == expected
    state.refresh_from_db()
    assert (state.status, state.attempts, state.error_position, state.last_error) == (
        ProjectionStatus.RUNNING,
        0,
        None,
        "",
    )
    assert state.events_applied == len(expected)
    row = projection_rows(api)["poisoned"]
    assert (row["status"], row["lag_events"], row["last_error"]) == ("running", 0, None)


def test_skip_and_retry_refuse_a_projection_that_has_not_failed(
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    register_projection(Recording("healthy"))
    runner.run("healthy")

    with pytest.raises(runner.ProjectionError):
        runner.skip("healthy", reason="why not", actor="ops")
    with pytest.raises(runner.ProjectionError):
        runner.retry("healthy")
    with pytest.raises(CommandError):
        call_command("projection_skip", "healthy", "--reason", "why not", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("projection_retry", "healthy", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("projection_retry", "no_such_projection", stdout=StringIO())
    assert applied_positions("healthy") == [o["position"] for o in five_orders]


def test_the_retry_and_skip_management_commands_resume_a_failed_projection(
    poison_settings: Any,
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    poison = five_orders[1]["position"]
    register_projection(Recording("poisoned", poison=[poison]))
    for _ in range(3):
        runner.run("poisoned")
    assert runner.active_state("poisoned").status == ProjectionStatus.FAILED
    status = StringIO()
    call_command("projection_status", stdout=status)
    assert f"last error: OrderCreated at position {poison}" in status.getvalue()

    retried = StringIO()
    call_command("projection_retry", "poisoned", stdout=retried)

    assert "read 0 events, failed again: OrderCreated at position" in retried.getvalue()
    with pytest.raises(runner.ProjectionError):
        runner.skip("poisoned", reason="   ", actor="ops")

    skipped = StringIO()
    call_command("projection_skip", "poisoned", "--reason", "known bad", stdout=skipped)

    assert f"skipped OrderCreated at position {poison}; then read 3 events" in skipped.getvalue()
    record = ProjectionSkip.objects.get()
    assert (record.position, record.reason) == (poison, "known bad")
    assert record.actor.startswith("cli:")  # no --actor: the OS user
    positions = [o["position"] for o in five_orders]
    assert applied_positions("poisoned") == [p for p in positions if p != poison]
    assert runner.active_state("poisoned").status == ProjectionStatus.RUNNING


# --- (b) two workers on one projection --------------------------------------------------------
@contextmanager
def lock_always_granted(name: str, generation: int, *, wait: bool = False) -> Iterator[bool]:
    yield True


@pytest.mark.parametrize(
    "advisory_lock", [True, False], ids=["with-advisory-lock", "compare-and-swap-only"]
)
def test_workers_running_one_projection_at_once_apply_each_event_exactly_once(
    advisory_lock: bool,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
) -> None:
    settings.PROJECTION_BATCH_SIZE = 3
    for n in range(60):
        b.append_new_order(customer_id=f"cust-{n}")
    expected = order_event_positions()
    register_projection(Recording("counting"))
    if not advisory_lock:  # as if the lock were lost: the checkpoint's compare-and-swap guards
        monkeypatch.setattr(runner, "projection_lock", lock_always_granted)
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
    assert runner.active_state("counting").events_applied == len(expected)


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


# --- wake-ups during a rebuild ----------------------------------------------------------------
def readable(position: int) -> bool:
    """Whether a reader of the log can see the event at ``position`` now (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tx_id < pg_snapshot_xmin(pg_current_snapshot()) FROM eventstore_event "
            "WHERE global_position = %s",
            [position],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def test_an_event_committed_while_a_rebuild_switches_is_applied_once_it_lets_go(
    five_orders: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    switching = threading.Event()
    late: list[dict[str, Any]] = []
    take_lock, drain = runner.projection_lock, runner._drain

    @contextmanager
    def noting_the_switch(name: str, generation: int, *, wait: bool = False) -> Iterator[bool]:
        with take_lock(name, generation, wait=wait) as acquired:
            if wait:  # only the switch (and skip) wait for the lock
                switching.set()
            yield acquired

    def drain_then_let_a_command_commit(*args: Any) -> int:
        read = drain(*args)
        in_main_thread = threading.current_thread() is threading.main_thread()
        if switching.is_set() and in_main_thread and not late:

            def command(_: int) -> None:
                late.append(b.place_order(customer_id="late"))  # its wake-up finds the lock
                wait_until(lambda: readable(late[0]["position"]), timeout=60)

            assert not in_threads(1, command)
        return read

    monkeypatch.setattr(runner, "projection_lock", noting_the_switch)
    monkeypatch.setattr(runner, "_drain", drain_then_let_a_command_commit)

    runner.rebuild("order_views")

    assert late, "the command did not run inside the switch"
    assert b.unapplied("order_views") == 0


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
