"""The order states a projector keeps between batches (read_models.folding.StateCache).

They are reused only while nobody else has moved the checkpoint, and never after a batch that
rolled back. Both workers here are real threads with their own connections and caches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from orders.domain import events as ev
from projections.engine import followers, runner
from projections.engine.generations import active_state
from projections.read_models.order_views import OrderViews
from projections.read_models.toolkit import tables
from tests.projections import builders as b

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Worker:
    """A thread that keeps its connection and its caches, running what it is handed."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Callable[[], Any] | None] = queue.Queue()
        self.results: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                try:
                    self.results.put((job(), None))
                except BaseException as exc:
                    self.results.put((None, exc))
        finally:
            connection.close()

    def __call__(self, job: Callable[[], Any]) -> Any:
        self.jobs.put(job)
        result, error = self.results.get(timeout=60)
        if error is not None:
            raise error
        return result

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(60)


@pytest.fixture
def workers() -> Iterator[tuple[Worker, Worker]]:
    pair = (Worker(), Worker())
    yield pair
    for worker in pair:
        worker.stop()


def one_batch_each(name: str, *workers: Worker) -> None:
    for worker in workers:
        worker(lambda: runner.run_some(name, max_batches=1))


def test_workers_taking_turns_never_reuse_states_the_other_has_moved_past(
    workers: tuple[Worker, Worker], settings: Any, api: APIClient
) -> None:
    settings.PROJECTION_BATCH_SIZE = 1  # a turn applies exactly one event
    order_id, _ = b.append_new_order()
    for name in b.READ_MODEL_PROJECTIONS:
        one_batch_each(name, workers[0])  # the first worker now holds the order's state
    for turn in range(4):  # each worker finds the order changed by the other since its last turn
        b.append_order_events(
            order_id, [ev.OrderItemAdded(order_id, b.line(f"sku-{turn}", 1, "2.50"))]
        )
        for name in b.READ_MODEL_PROJECTIONS:
            one_batch_each(name, workers[(turn + 1) % 2])
    assert b.caught_up()

    view = api.get(f"/api/orders/{order_id}").json()
    assert view == api.get(f"/api/orders/{order_id}/state").json()
    assert view["item_count"] == 5
    incremental = b.read_tables()
    call_command("rebuild_projection", "--all", "--no-progress", stdout=StringIO())
    assert b.read_tables() == incremental


def test_a_batch_that_rolls_back_leaves_no_trace_in_the_states_kept(
    monkeypatch: pytest.MonkeyPatch, api: APIClient
) -> None:
    order_id, _ = b.append_new_order(items=[("sku-1", 2, "10.00")])
    b.catch_up_until_applied()  # this thread's projectors now hold the order's state
    b.append_order_events(order_id, [ev.OrderItemAdded(order_id, b.line("sku-1", 3, "10.00"))])
    real_delete = tables.delete
    failures: list[str] = []

    def delete_failing_once(*args: Any, **kwargs: Any) -> None:
        if not failures:  # after the fold has changed the kept state, before the commit
            failures.append("failed")
            raise RuntimeError("the database went away")
        real_delete(*args, **kwargs)

    monkeypatch.setattr(tables, "delete", delete_failing_once)

    runner.run("order_views")  # the batch fails, the event alone is then applied

    assert failures == ["failed"]
    view = api.get(f"/api/orders/{order_id}").json()
    assert view["items"] == [
        {"product_id": "sku-1", "quantity": 5, "unit_price": "10.00", "line_total": "50.00"}
    ]
    assert view == api.get(f"/api/orders/{order_id}/state").json()
    assert active_state("order_views").error_position is None


def test_only_the_most_recently_folded_orders_are_kept_up_to_the_capacity(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PROJECTION_BATCH_SIZE = 2
    projection = followers.get("order_views")
    assert isinstance(projection, OrderViews)
    cache = projection.cache
    monkeypatch.setattr(cache, "capacity", 3)
    orders = [str(b.append_new_order(customer_id=f"cust-{n}")[0]) for n in range(8)]

    b.catch_up_until_applied(["order_views"])

    generation = active_state("order_views").generation
    assert list(cache._slots()[generation]) == orders[-3:]
