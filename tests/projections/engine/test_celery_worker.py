"""A real Celery worker on Redis applies what commands append, woken by their on_commit task."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import after_task_publish, task_postrun
from rest_framework.test import APIClient

from projections.engine.wakeups import CATCH_UP
from tests.projections import builders as b
from tests.projections.conftest import CeleryOnRedis
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

SWEEP_EVERY = 1.0


@dataclass
class Worker:
    """An embedded worker and a tally of the catch-up tasks sent to it and run by it."""

    celery: CeleryOnRedis
    published: int = 0
    finished: int = 0
    sweeps: int = 0
    last_sweep: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_publish(self, sender: Any = None, **kwargs: Any) -> None:
        if sender == CATCH_UP:
            with self.lock:
                self.published += 1

    def on_postrun(self, sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "name", None) == CATCH_UP:
            with self.lock:
                self.finished += 1

    def idle(self) -> bool:
        with self.lock:
            return self.published == self.finished

    def sweep(self) -> None:
        """What Celery beat does: send the catch-up again (no payload)."""
        self.celery.app.tasks[CATCH_UP].delay()
        self.sweeps += 1
        self.last_sweep = time.monotonic()

    def sweep_when_idle(self) -> None:
        """Sweep only once every wake-up sent so far has run and found nothing more to read.

        An event becomes readable only when every older transaction on the PostgreSQL server has
        ended, in any database; a busy shared server can make a wake-up find nothing yet, and in
        production the beat sweep is what then applies the event.
        """
        if self.idle() and time.monotonic() - self.last_sweep > SWEEP_EVERY:
            self.sweep()


@pytest.fixture
def worker(celery_on_redis: CeleryOnRedis) -> Iterator[Worker]:
    tally = Worker(celery_on_redis)
    after_task_publish.connect(tally.on_publish, weak=False)
    task_postrun.connect(tally.on_postrun, weak=False)
    try:
        with start_worker(
            celery_on_redis.app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=30,
            queues=[celery_on_redis.queue],
        ):
            yield tally
    finally:
        after_task_publish.disconnect(tally.on_publish)
        task_postrun.disconnect(tally.on_postrun)


def order_body(customer_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "items": [{"product_id": "widget", "quantity": 3, "unit_price": "4.00"}],
        "shipping_address": {
            "line1": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
    }


def wait_for_view(api: APIClient, worker: Worker, order_id: str, **expected: Any) -> Any:
    def shown() -> Any:
        response = api.get(f"/api/orders/{order_id}")
        if response.status_code == 200:
            body = response.json()
            if all(body[key] == value for key, value in expected.items()):
                return body
        worker.sweep_when_idle()
        return None

    return wait_until(shown, timeout=60, interval=0.02, what=f"order {order_id} {expected}")


def test_commands_sent_through_the_api_reach_the_read_model_through_the_worker(
    api: APIClient, worker: Worker
) -> None:
    created = api.post("/api/orders", order_body("wendy"), format="json")
    assert created.status_code == 201, created.content
    order_id = created.json()["order_id"]

    # The command's on_commit wake-up travelled through Redis and ran in the worker.
    wait_until(lambda: worker.published >= 1 and worker.finished >= 1, timeout=30)
    assert worker.sweeps == 0
    view = wait_for_view(api, worker, order_id)
    assert (view["customer_id"], view["total_amount"], view["item_count"]) == ("wendy", "12.00", 3)

    added = api.post(
        f"/api/orders/{order_id}/items",
        {"product_id": "gadget", "quantity": 1, "unit_price": "8.00"},
        format="json",
    )
    assert added.status_code == 200, added.content
    cancelled = api.post(f"/api/orders/{order_id}/cancel", {"reason": "too slow"}, format="json")
    assert cancelled.status_code == 200, cancelled.content

    view = wait_for_view(api, worker, order_id, status="cancelled", version=3)
    assert (view["total_amount"], view["cancel_reason"]) == ("20.00", "too slow")
    assert worker.published - worker.sweeps >= 3  # one wake-up per command
    wait_until(b.caught_up, timeout=60, what="every projection to catch up")
    summary = api.get("/api/customers/wendy/summary").json()
    assert (summary["order_count"], summary["cancelled_count"], summary["lifetime_value"]) == (
        1,
        1,
        "0.00",
    )


def test_a_lost_wake_up_is_recovered_when_the_sweep_sends_catch_up(
    api: APIClient, worker: Worker
) -> None:
    order_id, _ = b.append_new_order(customer_id="lost")  # appended, but no task was sent

    assert worker.published == 0
    assert api.get(f"/api/orders/{order_id}").status_code == 404

    worker.sweep()  # what beat sends every few seconds

    view = wait_for_view(api, worker, str(order_id))
    assert view["customer_id"] == "lost"
    wait_until(b.caught_up, timeout=60, what="every projection to catch up")
