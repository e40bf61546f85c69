"""Leases with fencing: a worker paused past its lease, whose cursor another worker has
claimed since, cannot commit; its batch rolls back and nothing is applied twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection

from eventstore.store import RecordedEvent, read_all
from projections.engine import followers, leases, runner
from projections.engine.generations import active_state
from projections.engine.models import ProjectionState
from projections.engine.strategies import apply_in_place
from tests.projections import builders as b
from tests.projections.engine.support import (
    JOIN_TIMEOUT,
    Recording,
    applied_positions,
    in_threads,
    order_event_positions,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def lease_ran_out(state: ProjectionState) -> bool:
    """By the database's clock, which leases are measured by."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lease_until < clock_timestamp() FROM projections_projectionstate WHERE id = %s",
            [state.pk],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def test_a_batch_under_a_lease_that_ran_out_and_was_claimed_again_rolls_back(
    settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
) -> None:
    settings.PROJECTION_LEASE_SECONDS = 0.2
    for n in range(3):
        b.append_new_order(customer_id=f"cust-{n}")
    follower = register_projection(Recording("fenced"))
    paused = active_state("fenced")
    first = leases.claim(paused, owner="worker-a")
    assert first.lease is not None
    events = read_all(paused.checkpoint, limit=100)

    wait_until(lambda: lease_ran_out(paused), timeout=10, interval=0.02, what="the lease to end")
    other = active_state("fenced")
    second = leases.claim(other, owner="worker-b")
    assert second.lease is not None
    assert second.lease.fencing == first.lease.fencing + 1

    # Worker a wakes up and applies the batch it had read: its swap finds the lease gone.
    with pytest.raises(leases.LeaseLost):
        apply_in_place(follower, paused, first.lease, events, {})
    assert applied_positions("fenced") == []
    assert active_state("fenced").position == 0

    apply_in_place(follower, other, second.lease, events, {})
    assert applied_positions("fenced") == order_event_positions()
    assert active_state("fenced").events_applied == len(order_event_positions())


class Pausing(Recording):
    """Recording, but the first batch it handles waits (inside its transaction) until told."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.inside = threading.Event()
        self.resume = threading.Event()

    def handle(self, events: Sequence[RecordedEvent], batch: followers.Batch) -> int | None:
        answer = super().handle(events, batch)
        if not self.inside.is_set():
            self.inside.set()
            assert self.resume.wait(JOIN_TIMEOUT)
        return answer


def test_a_worker_paused_past_its_lease_is_replaced_and_its_batch_rolls_back(
    settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
) -> None:
    settings.PROJECTION_LEASE_SECONDS = 0.3
    settings.PROJECTION_BATCH_SIZE = 2
    for n in range(4):
        b.append_new_order(customer_id=f"cust-{n}")
    pausing = Pausing("paused")
    register_projection(pausing)
    outcome: list[int] = []

    def paused_worker(_: int) -> None:
        outcome.append(runner.run("paused"))  # pauses inside its first batch

    worker = threading.Thread(target=lambda: in_threads(1, paused_worker), daemon=True)
    worker.start()
    try:
        assert pausing.inside.wait(JOIN_TIMEOUT)
        state = active_state("paused")
        wait_until(lambda: lease_ran_out(state), timeout=10, interval=0.02, what="the lease")
        # Another worker takes the cursor over and applies everything.
        assert runner.run("paused") == len(order_event_positions())
    finally:
        pausing.resume.set()
        worker.join(JOIN_TIMEOUT)

    assert outcome == [0]  # its batch did not commit, and it let go at once
    assert applied_positions("paused") == order_event_positions()
    assert active_state("paused").events_applied == len(order_event_positions())
