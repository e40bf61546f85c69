"""Concurrent HTTP commands on PostgreSQL: If-Match races and idempotency keys, real threads."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from eventstore.models import Event
from tests.orders.builders import create_body, item_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Answer = tuple[int, Any]


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def run_together(count: int, work: Callable[[int, APIClient], Answer], user: User) -> list[Answer]:
    """Run ``work`` in ``count`` threads released at once; each uses its own connection."""
    barrier = threading.Barrier(count, timeout=30)
    answers: list[Answer | None] = [None] * count
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            client = client_for(User.objects.get(pk=user.pk))
            barrier.wait()
            answers[number] = work(number, client)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]
    return [a for a in answers if a is not None]


def answer(response: Any) -> Answer:
    return response.status_code, response.json()


def place_order(user: User, **overrides: Any) -> str:
    response = client_for(user).post("/api/orders", create_body(**overrides), format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["order_id"])


def history(user: User, order_id: str) -> list[dict[str, Any]]:
    response = client_for(user).get(f"/api/orders/{order_id}/history")
    assert response.status_code == 200
    return list(response.json())


def stream_events(order_id: str) -> list[Event]:
    return list(Event.objects.filter(stream_id=f"Order-{order_id}").order_by("version"))


# --- optimistic concurrency -----------------------------------------------------------------
def test_twenty_writers_with_the_same_if_match_let_exactly_one_through(clerk: User) -> None:
    order_id = place_order(clerk)

    def add(number: int, client: APIClient) -> Answer:
        url = f"/api/orders/{order_id}/items"
        body = item_body(f"sku-t{number}", 1, "1.00")
        return answer(client.post(url, body, format="json", HTTP_IF_MATCH='"1"'))

    answers = run_together(20, add, clerk)

    statuses = Counter(status for status, _ in answers)
    assert statuses[200] == 1
    assert statuses[412] + statuses[409] == 19
    for status, body in answers:
        if status == 412:
            assert body["error"]["code"] == "version_mismatch"
            assert body["error"]["details"] == {"expected": 1, "actual": 2}
        elif status == 409:
            assert body["error"]["code"] == "concurrency_conflict"
    [winner] = [body for status, body in answers if status == 200]
    assert winner["version"] == 2
    events = history(clerk, order_id)
    assert [e["version"] for e in events] == [1, 2]
    assert [e.global_position for e in stream_events(order_id)] == [e["position"] for e in events]
    assert events[1]["position"] == winner["position"]


def test_writers_retrying_on_conflict_all_land_and_quantities_add_up(clerk: User) -> None:
    order_id = place_order(clerk, items=[item_body("shared", 1, "2.50")])
    writers = 12

    def add_until_accepted(number: int, client: APIClient) -> Answer:
        url = f"/api/orders/{order_id}/items"
        version, attempts = 1, 0
        while True:
            attempts += 1
            assert attempts < 200, "a writer never got through"
            response = client.post(
                url,
                item_body("shared", number + 1, "2.50"),
                format="json",
                HTTP_IF_MATCH=f'"{version}"',
            )
            if response.status_code == 200:
                return answer(response)
            error = response.json()["error"]
            if response.status_code == 412:
                version = error["details"]["actual"]
            elif response.status_code == 409 and error["code"] == "concurrency_conflict":
                version = len(client.get(f"/api/orders/{order_id}/history").json())
            else:
                raise AssertionError(f"unexpected answer {response.status_code}: {error}")

    answers = run_together(writers, add_until_accepted, clerk)

    assert [status for status, _ in answers] == [200] * writers
    assert sorted(body["version"] for _, body in answers) == list(range(2, writers + 2))
    events = history(clerk, order_id)
    assert len(events) == 1 + writers
    state = client_for(clerk).get(f"/api/orders/{order_id}/state").json()
    expected_quantity = 1 + sum(range(1, writers + 1))
    assert state["version"] == 1 + writers
    assert state["items"] == [
        {
            "product_id": "shared",
            "quantity": expected_quantity,
            "unit_price": "2.50",
            "line_total": f"{expected_quantity * 2.5:.2f}",
        }
    ]


def test_concurrent_cancels_without_a_key_cancel_once(clerk: User) -> None:
    order_id = place_order(clerk)

    def cancel(number: int, client: APIClient) -> Answer:
        url = f"/api/orders/{order_id}/cancel"
        return answer(client.post(url, {"reason": f"r{number}"}, format="json"))

    answers = run_together(10, cancel, clerk)

    assert Counter(status for status, _ in answers)[200] == 1
    codes = {body["error"]["code"] for status, body in answers if status != 200}
    assert codes <= {"order_cancelled", "concurrency_conflict"}
    assert [e.event_type for e in stream_events(order_id)] == ["OrderCreated", "OrderCancelled"]


# --- idempotency under concurrency ----------------------------------------------------------
def test_ten_concurrent_creates_with_one_key_create_one_order(clerk: User) -> None:
    events_before = Event.objects.count()
    body = create_body()

    def create(number: int, client: APIClient) -> Answer:
        response = client.post("/api/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="same")
        return answer(response)

    answers = run_together(10, create, clerk)

    assert answers == [answers[0]] * 10
    status, result = answers[0]
    assert status == 201
    assert Event.objects.count() == events_before + 1
    assert [e.event_type for e in stream_events(result["order_id"])] == ["OrderCreated"]


def test_ten_concurrent_cancels_with_one_key_cancel_once_and_answer_alike(clerk: User) -> None:
    order_id = place_order(clerk)
    events_before = Event.objects.count()

    def cancel(number: int, client: APIClient) -> Answer:
        response = client.post(
            f"/api/orders/{order_id}/cancel",
            {"reason": "duplicate order"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="cancel-once",
        )
        return answer(response)

    answers = run_together(10, cancel, clerk)

    assert answers == [answers[0]] * 10
    status, result = answers[0]
    assert status == 200
    assert result["version"] == 2
    assert Event.objects.count() == events_before + 1
    assert [e.event_type for e in stream_events(order_id)] == ["OrderCreated", "OrderCancelled"]
