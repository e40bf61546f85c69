"""Write-behind (projections.engine.strategies.Pipelined): while catching up, a batch is
written on a second connection as the next one is folded. What is applied, and what a failing
batch does, must be as when each batch is applied in place.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from eventstore.store import Checkpoint, read_all
from orders.domain import events as ev
from projections.engine import followers, leases, runner, strategies
from projections.engine.backends import backend
from projections.engine.generations import active_state
from projections.engine.leases import Lease
from projections.models import ProjectionState
from projections.read_models.toolkit import tables
from tests.projections import builders as b
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def small_batches(settings: Any) -> Any:
    """Batches of 2 events, 3 while catching up: a few orders make many batches."""
    settings.PROJECTION_BATCH_SIZE = 2
    settings.PROJECTION_CATCHUP_BATCH_SIZE = 3
    settings.PROJECTION_RETRY_BACKOFF_SECONDS = 0
    return settings


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Checkpoint, bool]]]:
    """Each committed checkpoint move: (projection, where it moved to, written behind)."""
    seen: list[tuple[str, Checkpoint, bool]] = []
    real = strategies.advance

    def advance(state: ProjectionState, lease: Lease, to: Checkpoint, **kwargs: Any) -> None:
        real(state, lease, to, **kwargs)
        behind = threading.current_thread() is not threading.main_thread()
        transaction.on_commit(lambda: seen.append((state.name, to, behind)))

    monkeypatch.setattr(strategies, "advance", advance)
    yield seen


def some_orders(count: int = 6) -> list[uuid.UUID]:
    """Orders with items added, shipped or cancelled: several events each, interleaved."""
    orders = [b.append_new_order(customer_id=f"cust-{n % 3}")[0] for n in range(count)]
    for n, order_id in enumerate(orders):
        b.append_order_events(order_id, [ev.OrderItemAdded(order_id, b.line(f"sku-{n}", 2))])
    for n, order_id in enumerate(orders):
        last: ev.DomainEvent = (
            ev.OrderShipped(order_id, "UPS", f"T{n}")
            if n % 2
            else ev.OrderCancelled(order_id, "customer request")
        )
        b.append_order_events(order_id, [last])
    return orders


def test_a_catch_up_written_behind_writes_what_applying_in_place_writes(
    small_batches: Any,
    commits: list[tuple[str, Checkpoint, bool]],
    api: APIClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = some_orders()

    b.catch_up_until_applied()

    assert any(behind for _name, _to, behind in commits), "no batch was written behind"
    written_behind = b.read_tables()
    for order_id in orders:
        view = api.get(f"/api/orders/{order_id}").json()
        assert view == api.get(f"/api/orders/{order_id}/state").json()
    monkeypatch.setattr(type(backend()), "writes_behind", False)
    commits.clear()
    call_command("rebuild_projection", "--all", "--no-progress", stdout=StringIO())
    assert commits and not any(behind for _name, _to, behind in commits)
    assert b.read_tables() == written_behind


def test_a_batch_failing_behind_commits_nothing_after_it_and_is_read_again_smaller(
    small_batches: Any,
    commits: list[tuple[str, Checkpoint, bool]],
    api: APIClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = some_orders()
    real_delete = tables.delete
    failed: list[bool] = []

    def delete_failing_once_behind(*args: Any, **kwargs: Any) -> None:
        if not failed and threading.current_thread() is not threading.main_thread():
            failed.append(True)
            raise RuntimeError("the database went away")
        real_delete(*args, **kwargs)

    monkeypatch.setattr(tables, "delete", delete_failing_once_behind)

    b.catch_up_until_applied(["order_views"])

    assert failed, "no batch was written behind"
    moves = [to for name, to, _behind in commits if name == "order_views"]
    assert all(a < b for a, b in itertools.pairwise(moves)), "committed out of order"
    state = active_state("order_views")
    assert state.checkpoint == moves[-1]
    assert (state.error_position, state.attempts, state.last_error) == (None, 0, "")
    assert not b.unapplied("order_views")
    for order_id in orders:
        view = api.get(f"/api/orders/{order_id}").json()
        assert view == api.get(f"/api/orders/{order_id}/state").json()


def test_a_poison_event_folded_ahead_stops_its_projection_right_before_it(
    small_batches: Any, commits: list[tuple[str, Checkpoint, bool]]
) -> None:
    orders = some_orders()
    stranger, created = b.append_new_order(customer_id="cust-9")
    # Folding refuses an item that was never added: the event is poison to every read model.
    poison = b.append_order_events(stranger, [ev.OrderItemRemoved(stranger, "sku-none")])
    for order_id in orders[:2]:
        b.append_order_events(order_id, [ev.OrderItemAdded(order_id, b.line("sku-x"))])

    def stopped() -> bool:
        runner.run("order_views")
        return active_state("order_views").error_position is not None

    wait_until(stopped, timeout=60, interval=0.02, what="order_views to stop at the poison")

    assert any(behind for name, _to, behind in commits if name == "order_views")
    state = active_state("order_views")
    assert state.error_position == poison.last_position
    assert state.attempts == 1
    assert state.position == created.last_position  # everything before it, nothing after


def test_a_batch_written_behind_commits_only_under_the_lease_it_was_read_under(
    small_batches: Any,
) -> None:
    some_orders(2)
    projection = followers.get("order_views")
    state = active_state("order_views")
    turn = leases.claim(state)
    assert turn.lease is not None
    events = read_all(state.checkpoint, limit=2, metadata=False)
    outcomes: list[str] = []

    def write_behind() -> None:  # the writer's thread, on a connection of its own
        try:
            prepared = strategies.prepare(
                projection,
                state,
                events,
                state.checkpoint,
                {},
                continues=False,
                behind=lambda: None,
            )
            with transaction.atomic():
                strategies.finish(prepared, state, turn.lease)  # type: ignore[arg-type]
            outcomes.append("committed")
        except leases.LeaseLost:
            outcomes.append("rolled back")
        finally:
            connection.close()

    def written() -> str:
        thread = threading.Thread(target=write_behind)
        thread.start()
        thread.join(30)
        return outcomes.pop()

    # Another worker claims the cursor once this lease has run out: the batch cannot commit.
    ProjectionState.objects.filter(pk=state.pk).update(lease_until=timezone.now())
    assert leases.claim(active_state("order_views"), owner="another worker").lease is not None
    assert written() == "rolled back"
    assert active_state("order_views").position == 0
