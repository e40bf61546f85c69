"""Read-your-writes: min_position (or X-Min-Position) makes a query wait for its projections."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from eventstore.store import head_position
from projections.engine import consistency
from tests.projections import builders as b
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORDER_BODY = {
    "customer_id": "rita",
    "items": [{"product_id": "widget", "quantity": 2, "unit_price": "12.50"}],
    "shipping_address": {
        "line1": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "US",
    },
}


def create_order(api: APIClient) -> dict[str, Any]:
    response = api.post("/api/orders", ORDER_BODY, format="json")
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def query_paths(order_id: str) -> list[str]:
    return [
        f"/api/orders/{order_id}",
        "/api/customers/rita/orders",
        "/api/orders/search",
        "/api/customers/rita/summary",
        "/api/reports/daily-sales",
        "/api/projections",
    ]


def test_a_query_with_the_position_of_an_applied_command_answers_fresh(api: APIClient) -> None:
    created = create_order(api)
    b.catch_up_until_applied()

    for path in query_paths(created["order_id"]):
        response = api.get(path, {"min_position": created["position"]})
        assert response.status_code == 200, (path, response.content)
        assert response["X-Consistency"] == "fresh", path
    by_header = api.get(
        f"/api/orders/{created['order_id']}", HTTP_X_MIN_POSITION=str(created["position"])
    )
    assert (by_header.status_code, by_header["X-Consistency"]) == (200, "fresh")
    view = by_header.json()
    assert (view["order_id"], view["total_amount"]) == (created["order_id"], "25.00")


def test_a_position_beyond_the_head_answers_stale_at_once_with_the_body_unchanged(
    api: APIClient,
) -> None:
    created = create_order(api)
    b.catch_up_until_applied()
    beyond = head_position() + 1000  # no command acknowledged it: nobody waits for a write

    for path in query_paths(created["order_id"]):
        plain = api.get(path)
        started = time.monotonic()
        waited = api.get(path, {"min_position": beyond, "consistency_timeout": "5"})
        elapsed = time.monotonic() - started
        assert waited.status_code == plain.status_code == 200, path
        assert "X-Consistency" not in plain, path  # no min_position, no header
        assert waited["X-Consistency"] == "stale", path
        assert waited.json() == plain.json(), path
        assert waited.get("ETag") == plain.get("ETag"), path
        assert elapsed < 2.5, (path, elapsed)  # not the 5 s asked for
    by_header = api.get(
        f"/api/orders/{created['order_id']}",
        {"consistency_timeout": "5"},
        HTTP_X_MIN_POSITION=str(2**63 - 1),
    )
    assert (by_header.status_code, by_header["X-Consistency"]) == (200, "stale")


def test_a_committed_position_not_yet_applied_is_waited_for_until_the_timeout(
    api: APIClient,
) -> None:
    _, appended = b.append_new_order(customer_id="rita")  # nothing wakes the projector

    started = time.monotonic()
    response = api.get(
        "/api/customers/rita/orders",
        {"min_position": appended.last_position, "consistency_timeout": "0.3"},
    )

    assert (response.status_code, response["X-Consistency"]) == (200, "stale")
    assert time.monotonic() - started >= 0.3


def test_readers_beyond_the_process_s_wait_limit_answer_stale_at_once(
    clerk: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CONSISTENCY_MAX_WAITS = 2
    order_id, appended = b.append_new_order(customer_id="rita")  # nothing wakes the projector
    path = f"/api/orders/{order_id}"
    asked = {"min_position": appended.last_position, "consistency_timeout": "30"}
    answers: list[Any] = []
    waiters: set[int] = set()  # the threads whose wait has begun
    checked = consistency._Goal.reached

    def check_and_count(goal: Any) -> bool:
        done = checked(goal)
        if not done:
            waiters.add(threading.get_ident())
        return done

    monkeypatch.setattr(consistency._Goal, "reached", check_and_count)

    def reader() -> None:
        client = APIClient()
        client.force_authenticate(clerk)
        try:
            answers.append(client.get(path, asked))
        finally:
            connection.close()

    waiting = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    for thread in waiting:
        thread.start()
    try:
        wait_until(lambda: len(waiters) == 2, timeout=10, what="two readers to wait")
        third = APIClient()
        third.force_authenticate(clerk)
        started = time.monotonic()
        refused = third.get(path, {**asked, "consistency_timeout": "5"})
        elapsed = time.monotonic() - started
    finally:
        b.catch_up_until_applied(["order_views"])  # the two waits end fresh
        for thread in waiting:
            thread.join(timeout=30)

    assert (refused.status_code, refused["X-Consistency"]) == (404, "stale")  # not applied
    assert elapsed < 2.5, elapsed  # at once, not after the 5 s asked for
    assert [(r.status_code, r["X-Consistency"]) for r in answers] == [(200, "fresh")] * 2
    again = third.get(path, {**asked, "consistency_timeout": "5"})
    assert (again.status_code, again["X-Consistency"]) == (200, "fresh")


@pytest.mark.django_db  # validation only: no need to commit anything
@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"min_position": "1", "consistency_timeout": "31"}, {}),
        ({"min_position": "1", "consistency_timeout": "-1"}, {}),
        ({"min_position": "1", "consistency_timeout": "abc"}, {}),
        ({"min_position": "1", "consistency_timeout": "nan"}, {}),
        ({"min_position": "-1"}, {}),
        ({"min_position": "abc"}, {}),
        ({"min_position": "1.5"}, {}),
        ({}, {"HTTP_X_MIN_POSITION": "abc"}),
        ({}, {"HTTP_X_MIN_POSITION": "-3"}),
    ],
)
def test_bad_consistency_parameters_are_a_400(
    api: APIClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = api.get("/api/customers/rita/orders", params, **headers)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert "X-Consistency" not in response


def test_a_query_waits_for_the_projector_and_then_answers_fresh(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id, appended = b.append_new_order(customer_id="rita")  # nothing wakes the projector
    waiting = threading.Event()
    checked = consistency._Goal.reached

    def check_and_signal(goal: Any) -> bool:
        done = checked(goal)
        if not done:
            waiting.set()  # the query is now waiting: only now may the projector run
        return done

    monkeypatch.setattr(consistency._Goal, "reached", check_and_signal)
    errors: list[BaseException] = []

    def project_once_the_query_waits() -> None:
        try:
            assert waiting.wait(timeout=10)
            b.catch_up_until_applied(["order_views"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    projector = threading.Thread(target=project_once_the_query_waits, daemon=True)
    projector.start()
    response = api.get(
        f"/api/orders/{order_id}",
        {"min_position": appended.last_position, "consistency_timeout": "30"},
    )
    projector.join(timeout=60)

    assert not errors, errors
    assert waiting.is_set()
    assert (response.status_code, response["X-Consistency"]) == (200, "fresh")
    assert response.json()["order_id"] == str(order_id)


def test_a_query_waits_only_for_the_projections_that_feed_it(api: APIClient) -> None:
    b.catch_up_until_applied()
    _, appended = b.append_new_order(customer_id="rita")
    b.catch_up_until_applied(["customer_summaries"])
    params = {"min_position": appended.last_position, "consistency_timeout": "0.2"}

    summary = api.get("/api/customers/rita/summary", params)
    orders = api.get("/api/customers/rita/orders", params)

    assert (summary["X-Consistency"], summary.json()["order_count"]) == ("fresh", 1)
    assert (orders["X-Consistency"], orders.json()["total"]) == ("stale", 0)


def test_min_position_zero_is_always_fresh(api: APIClient) -> None:
    created = create_order(api)
    b.catch_up_until_applied()

    response = api.get(
        f"/api/orders/{created['order_id']}", {"min_position": "0", "consistency_timeout": "0.2"}
    )

    assert (response.status_code, response["X-Consistency"]) == (200, "fresh")
