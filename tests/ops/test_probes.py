"""GET /healthz and /readyz: alive, and ready only when database, broker and projections are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from eventstore import store
from projections.engine import runner
from projections.engine.models import ProjectionState, ProjectionStatus

pytestmark = pytest.mark.django_db(transaction=True)

PROJECTIONS = ("customer_summaries", "daily_sales", "order_views")


@pytest.fixture
def ready() -> None:
    for name in PROJECTIONS:
        runner.active_state(name)


def append_unapplied_event() -> None:
    """An event no projection has applied (appended past the command service, which wakes)."""
    event = store.NewEvent("OrderCreated", {"order_id": "x"})
    store.append_to_stream("Probe-1", "Probe", [event], expected_version=store.NO_STREAM)


def test_healthz_answers_without_touching_the_database(client: Client) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connection, "cursor", _unreachable)
        response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@override_settings(ALLOWED_HOSTS=["orders.example.com"], SECURE_SSL_REDIRECT=True)
def test_probes_answer_any_host_over_plain_http(client: Client, ready: None) -> None:
    # Orchestrators call pods by address over HTTP: no DisallowedHost, no HTTPS redirect.
    for path in ("/healthz", "/readyz", "/healthz/"):
        response = client.get(path, HTTP_HOST="10.1.2.3:8000")
        assert response.status_code == 200, (path, response.content)


def test_readyz_is_ready_with_database_and_projections_up(client: Client, ready: None) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "broker": "eager",  # no broker configured: tasks run in-process
            "projections": dict.fromkeys(PROJECTIONS, "ok"),
        },
    }


def test_readyz_names_a_failed_projection(client: Client, ready: None) -> None:
    ProjectionState.objects.filter(name="daily_sales", active=True).update(
        status=ProjectionStatus.FAILED, last_error="boom at position 7"
    )

    response = client.get("/readyz")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["message"] == "Not ready: projections."
    assert error["details"]["projections"] == {
        "customer_summaries": "ok",
        "daily_sales": "failed",
        "order_views": "ok",
    }
    assert "boom" not in response.content.decode()  # no error text in a public body


def test_readyz_fails_once_lag_passes_the_threshold(
    client: Client, ready: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    an_hour_ago = timezone.now() - timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: an_hour_ago)
    append_unapplied_event()
    monkeypatch.undo()

    with override_settings(READY_MAX_LAG_SECONDS=3600 * 2):
        assert client.get("/readyz").status_code == 200
    with override_settings(READY_MAX_LAG_SECONDS=60):
        response = client.get("/readyz")

    assert response.status_code == 503
    lagging = response.json()["error"]["details"]["projections"]
    assert set(lagging) == set(PROJECTIONS)
    assert all(
        state.startswith("lagging 36") and state.endswith("> 60 s") for state in lagging.values()
    )


def test_readyz_fails_when_the_broker_is_unreachable(client: Client, ready: None) -> None:
    saved = current_app.conf.broker_url
    current_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
            response = client.get("/readyz")
    finally:
        current_app.conf.broker_url = saved

    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["message"], error["details"]["broker"]) == ("Not ready: broker.", "unreachable")
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.celery_worker
def test_readyz_checks_a_real_broker(client: Client, ready: None, redis_url: str) -> None:
    saved = current_app.conf.broker_url
    current_app.conf.broker_url = redis_url
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
            response = client.get("/readyz")
    finally:
        current_app.conf.broker_url = saved

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"


def test_readyz_fails_when_the_database_is_unreachable(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "cursor", _unreachable)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["details"] == {
        "database": "unreachable",
        "broker": "eager",
        "projections": "unknown",
    }


def _unreachable(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("connection refused")
