"""GET /metrics: Prometheus text of commands, appends, requests, projections; who may read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from eventstore.store import head_position
from ops.models import WorkerHeartbeat
from projections.engine import runner
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus
from tests.ops.conftest import ORDER_BODY
from tests.projections import builders as b

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "s3cret-scrape-token"


def scrape(client: Client, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of one scrape: (name, labels) -> value."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_command_is_counted_by_type_and_outcome_with_its_events_and_request(
    client: Client, api: APIClient
) -> None:
    before = scrape(client)

    created = api.post("/api/orders", ORDER_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    api.post("/api/orders", ORDER_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")  # replayed
    order_id = created.json()["order_id"]
    api.post(f"/api/orders/{order_id}/cancel", {"reason": "no"}, format="json")
    api.post(f"/api/orders/{order_id}/ship", {}, format="json")  # refused: cancelled
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("orders_commands_total", command="CreateOrder", outcome="ok") == 1
    assert delta("orders_commands_total", command="CreateOrder", outcome="replayed") == 1
    assert delta("orders_commands_total", command="CancelOrder", outcome="ok") == 1
    assert delta("orders_commands_total", command="ShipOrder", outcome="order_cancelled") == 1
    assert delta("eventstore_events_appended_total", stream_type="Order") == 2
    created_route = {"method": "POST", "route": "/api/orders", "status": "201"}
    assert delta("http_request_duration_seconds_count", **created_route) == 2
    assert delta("http_request_duration_seconds_bucket", le="+Inf", **created_route) == 2
    ship_route = {"method": "POST", "route": "/api/orders/{order_id}/ship", "status": "409"}
    assert delta("http_request_duration_seconds_count", **ship_route) == 1
    # Eager Celery (no broker): the projections applied the events within the requests.
    assert delta("projection_batch_duration_seconds_count", projection="order_views") >= 1


def test_projection_state_comes_from_the_database(client: Client, api: APIClient) -> None:
    api.post("/api/orders", ORDER_BODY, format="json")
    ProjectionState.objects.filter(name="daily_sales", active=True).update(
        status=ProjectionStatus.FAILED
    )
    state = runner.active_state("order_views")
    ProjectionSkip.objects.create(
        name="customer_summaries",
        generation=1,
        position=1,
        event_id="00000000-0000-4000-8000-000000000001",
        event_type="OrderCreated",
        reason="test",
        actor="ops",
    )

    samples = scrape(client)

    head = head_position()
    assert value(samples, "orders_database_up") == 1
    assert value(samples, "eventstore_head_position") == head
    assert value(samples, "projection_position", projection="order_views") == state.position == head
    assert value(samples, "projection_lag_events", projection="order_views") == 0
    assert value(samples, "projection_lag_seconds", projection="order_views") == 0
    assert value(samples, "projection_status", projection="daily_sales", status="failed") == 1
    assert value(samples, "projection_status", projection="daily_sales", status="running") == 0
    assert value(samples, "projection_failed_events", projection="daily_sales") == 1
    assert value(samples, "projection_failed_events", projection="order_views") == 0
    assert value(samples, "projection_skipped_events_total", projection="customer_summaries") == 1
    assert value(samples, "projection_skipped_events_total", projection="order_views") == 0


def test_read_your_writes_waits_are_counted_by_how_they_ended(
    client: Client, api: APIClient
) -> None:
    created = api.post("/api/orders", ORDER_BODY, format="json").json()  # applied at once
    _, unapplied = b.append_new_order()  # nothing wakes the projections
    path = f"/api/orders/{created['order_id']}"
    before = scrape(client)

    fresh = api.get(path, {"min_position": created["position"]})
    stale = api.get(path, {"min_position": unapplied.last_position, "consistency_timeout": 0.05})
    beyond = api.get(path, {"min_position": head_position() + 1000, "consistency_timeout": 5})
    after = scrape(client)

    assert [r["X-Consistency"] for r in (fresh, stale, beyond)] == ["fresh", "stale", "stale"]
    for outcome in ("fresh", "stale", "beyond_head"):
        name = "projection_consistency_waits_total"
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1


def test_without_a_token_only_this_machine_may_scrape(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200

    remote = client.get("/metrics", REMOTE_ADDR="10.0.0.7")
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")

    for refused in (remote, proxied):
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"


@override_settings(METRICS_TOKEN=TOKEN)
def test_with_a_token_a_scrape_needs_it_from_anywhere(client: Client) -> None:
    anonymous = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", REMOTE_ADDR="127.0.0.1")
    right = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="10.0.0.7")

    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "permission_denied")
    assert right.status_code == 200
    assert b"orders_database_up 1.0" in right.content


def test_worker_heartbeats_and_the_database_state_are_exported(
    client: Client, api: APIClient
) -> None:
    WorkerHeartbeat.objects.create(worker="celery@old", seen_at=timezone.now() - timedelta(days=2))
    WorkerHeartbeat.objects.create(
        worker="celery@a", seen_at=timezone.now() - timedelta(seconds=90)
    )
    api.post("/api/orders", ORDER_BODY, format="json")  # its catch-up runs eagerly: no worker

    samples = scrape(client)

    assert value(samples, "orders_database_writable") == 1
    age = {labels: v for (name, labels), v in samples.items() if name.startswith("orders_worker")}
    assert set(age) == {frozenset({"worker": "celery@a"}.items())}  # a day unseen: left out
    assert 90 <= age[frozenset({"worker": "celery@a"}.items())] < 120
    # No broker configured (tasks run in-process): nothing to report about one.
    assert not any(name == "orders_broker_up" for name, _ in samples)


def test_an_unreachable_broker_is_exported_as_down(client: Client) -> None:
    saved = current_app.conf.broker_url
    current_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
            samples = scrape(client)
    finally:
        current_app.conf.broker_url = saved

    assert value(samples, "orders_broker_up") == 0
    assert value(samples, "orders_database_up") == 1
