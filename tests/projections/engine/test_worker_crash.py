"""Exactly once under SIGKILL: workers killed mid catch-up neither lose nor repeat a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Sum

from eventstore.store import head_position
from orders.domain import events as ev
from projections.engine.wakeups import CATCH_UP
from projections.models import CustomerSummary, DailySales, OrderView, ProjectionState
from tests.faults.fold import assert_read_models_equal_the_log
from tests.faults.processes import database_url, wait_for_no_other_sessions
from tests.projections import builders as b
from tests.projections.conftest import CeleryOnRedis
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

ORDERS = 400  # three events each
BATCH_SIZE = 20
RESEND_EVERY = 2.0
SEED_WRITERS = 4


def order_events(n: int) -> tuple[uuid.UUID, list[ev.DomainEvent]]:
    """The n-th seeded order: created, an item added, then shipped, cancelled or moved."""
    order_id = uuid.uuid4()
    created = b.order_created(
        order_id,
        # Each seeding writer's own customers: writers that made the same customers' first
        # keys in opposite orders, each in one long transaction, would deadlock (a known
        # limit of first keys made inside the caller's transaction: docs/decisions.md).
        customer_id=f"cust-{n % SEED_WRITERS}-{n // SEED_WRITERS % 25}",
        items=[("widget", 1 + n % 4, "2.50"), (f"sku-{n % 13}", 1, "9.99")],
    )
    added = ev.OrderItemAdded(
        order_id=order_id, item=b.line("gadget", 2, "1.25"), line=b.line("gadget", 2, "1.25")
    )
    last: ev.DomainEvent
    if n % 3 == 0:
        last = ev.OrderShipped(order_id=order_id, carrier="UPS", tracking_number=str(n))
    elif n % 3 == 1:
        last = ev.OrderCancelled(order_id=order_id, reason="changed mind")
    else:
        last = ev.ShippingAddressChanged(
            order_id=order_id, shipping_address=b.address("Shelbyville")
        )
    return order_id, [created, added, last]


def seed_log() -> int:
    """Append ORDERS orders of three events each straight to the log (four writers, one
    transaction each); returns the head."""
    errors: list[BaseException] = []

    def write(first: int) -> None:
        try:
            with transaction.atomic():
                for n in range(first, ORDERS, SEED_WRITERS):
                    b.append_order_events(*order_events(n))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    writers = [threading.Thread(target=write, args=(n,)) for n in range(SEED_WRITERS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert not errors, errors
    return head_position()


@dataclass
class WorkerProcess:
    """A `celery worker` subprocess consuming a queue of its own."""

    process: subprocess.Popen[bytes]
    queue: str
    celery: CeleryOnRedis
    log: Path

    def catch_up(self, names: list[str] | None = None) -> None:
        self.celery.app.tasks[CATCH_UP].apply_async(args=[names], queue=self.queue)

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def spawn_worker(
    celery_on_redis: CeleryOnRedis, tmp_path: Path
) -> Iterator[Callable[[str], WorkerProcess]]:
    """Start `celery worker` processes on the test database; all killed afterwards."""
    processes: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": celery_on_redis.broker_url,
        "PROJECTION_BATCH_SIZE": str(BATCH_SIZE),
        # A killed worker's leases run out after this long: then another claims them.
        "PROJECTION_LEASE_SECONDS": "5",
        "CELERY_SKIP_CHECKS": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_TEST_NAME", None)

    def spawn(name: str) -> WorkerProcess:
        queue = f"{celery_on_redis.queue}-{name}"
        log_path = tmp_path / f"{name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "-Q",
                queue,
                "-n",
                f"{name}-{uuid.uuid4().hex[:8]}@%h",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=WARNING",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        processes.append(process)
        return WorkerProcess(process, queue, celery_on_redis, log_path)

    try:
        yield spawn
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        wait_for_no_other_sessions()


def checkpoint(name: str) -> int:
    state = ProjectionState.objects.filter(name=name, active=True).first()
    return state.position if state is not None else 0


def kill_mid_catch_up(worker: WorkerProcess, name: str, head: int) -> int:
    """Send catch-up, wait until ``name`` is part-way through the log, then SIGKILL the worker.

    A worker killed earlier may still hold ``name``'s lease (until it runs out): a catch-up
    passes such a cursor over and returns once the others are done. Beat would send another;
    the test resends it meanwhile."""
    start = checkpoint(name)
    last_sent = 0.0

    def part_way() -> bool:
        nonlocal last_sent
        assert worker.alive(), f"the worker died on its own:\n{worker.output()}"
        position = checkpoint(name)
        assert position < head, f"{name} reached the head before it could be killed"
        if position == start and time.monotonic() - last_sent > RESEND_EVERY:
            worker.catch_up(["order_views", "customer_summaries", "daily_sales"])
            last_sent = time.monotonic()
        return position > start

    wait_until(part_way, timeout=60, interval=0.002, what=f"{name} to be part-way")
    worker.kill()
    return checkpoint(name)


def test_workers_killed_mid_catch_up_neither_lose_nor_repeat_events(
    spawn_worker: Callable[[str], WorkerProcess],
) -> None:
    first, second, third = (spawn_worker(name) for name in ("first", "second", "third"))
    head = seed_log()  # while the workers start

    killed_at = kill_mid_catch_up(first, "order_views", head)
    assert 0 < killed_at < head
    # The next worker finishes order_views first, then is killed inside customer_summaries.
    killed_at = kill_mid_catch_up(second, "customer_summaries", head)
    assert 0 < killed_at < head

    last_sent = 0.0

    def everything_applied() -> bool:
        nonlocal last_sent
        assert third.alive(), f"the worker died on its own:\n{third.output()}"
        if b.caught_up():
            return True
        # A killed worker's lease holds until it runs out, making a catch-up return at once
        # meanwhile; beat would send another, so the test does too.
        if time.monotonic() - last_sent > RESEND_EVERY:
            third.catch_up()
            last_sent = time.monotonic()
        return False

    wait_until(everything_applied, timeout=120, interval=0.05, what="all projections")

    events = 3 * ORDERS
    states = ProjectionState.objects.filter(name__in=b.READ_MODEL_PROJECTIONS, active=True)
    assert {s.name: s.events_applied for s in states} == dict.fromkeys(
        b.READ_MODEL_PROJECTIONS, events
    )
    assert OrderView.objects.count() == ORDERS
    assert DailySales.objects.aggregate(n=Sum("orders_placed"))["n"] == ORDERS
    assert CustomerSummary.objects.aggregate(n=Sum("order_count"))["n"] == ORDERS
    assert_read_models_equal_the_log()
    incremental = b.read_tables()

    call_command("rebuild_projection", "--all", "--no-progress", stdout=StringIO())

    assert b.read_tables() == incremental
