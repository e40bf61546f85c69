"""GET /healthz and /readyz: alive; ready when this instance's database answers and takes writes
and its migrations are applied. The broker and the projections are reported, never deciding."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from eventstore import store
from ops import checks
from projections.engine import runner
from projections.engine.models import ProjectionState, ProjectionStatus

pytestmark = pytest.mark.django_db(transaction=True)

PROJECTIONS = ("customer_summaries", "daily_sales", "order_views")


@pytest.fixture
def ready(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROJECTIONS:
        runner.active_state(name)
    # Each test starts as a fresh process would: migrations not yet known to be applied.
    monkeypatch.setattr(checks, "_migrations_applied", False)


def append_unapplied_event() -> None:
    """An event no projection has applied (appended past the command service, which wakes)."""
    event = store.NewEvent("OrderCreated", {"order_id": "x"})
    store.append_to_stream("Probe-1", "Probe", [event], expected_version=store.NO_STREAM)


@pytest.fixture
def broker_at(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Point the Celery app at a broker URL for the test (``broker_at(url)``)."""
    saved = current_app.conf.broker_url

    def point(url: str) -> None:
        current_app.conf.broker_url = url

    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        yield point
    current_app.conf.broker_url = saved


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
            "migrations": "ok",
            "broker": "eager",  # no broker configured: tasks run in-process
            "projections": dict.fromkeys(PROJECTIONS, "ok"),
            # Each shard's position, lag and owner (one shard each here, none held).
            "projection_shards": {
                name: [{"index": 0, "position": 0, "lag_events": 0, "owner": ""}]
                for name in PROJECTIONS
            },
        },
    }


def test_a_failed_projection_is_reported_but_leaves_the_instance_ready(
    client: Client, ready: None
) -> None:
    ProjectionState.objects.filter(name="daily_sales", active=True).update(
        status=ProjectionStatus.FAILED, last_error="boom at position 7"
    )

    response = client.get("/readyz")

    # Commands do not need the projections: the load balancer must keep sending them here.
    assert response.status_code == 200
    assert response.json()["checks"]["projections"] == {
        "customer_summaries": "ok",
        "daily_sales": "failed",
        "order_views": "ok",
    }
    assert "boom" not in response.content.decode()  # no error text in a public body


def test_lag_past_the_threshold_is_reported_but_leaves_the_instance_ready(
    client: Client, ready: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    an_hour_ago = timezone.now() - timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: an_hour_ago)
    append_unapplied_event()
    monkeypatch.undo()

    with override_settings(READY_MAX_LAG_SECONDS=3600 * 2):
        within = client.get("/readyz")
    with override_settings(READY_MAX_LAG_SECONDS=60):
        beyond = client.get("/readyz")

    assert within.json()["checks"]["projections"] == dict.fromkeys(PROJECTIONS, "ok")
    assert beyond.status_code == 200
    lagging = beyond.json()["checks"]["projections"]
    assert set(lagging) == set(PROJECTIONS)
    assert all(
        state.startswith("lagging 36") and state.endswith("> 60 s") for state in lagging.values()
    )


def test_an_unreachable_broker_is_reported_but_leaves_the_instance_ready(
    client: Client, ready: None, broker_at: Any
) -> None:
    broker_at("redis://127.0.0.1:1/0")  # nothing listens on port 1

    response = client.get("/readyz")

    # Commands do not need it: their wake-ups are lost, and beat's sweep makes up for them.
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "unreachable"
    assert "127.0.0.1" not in response.content.decode()


def test_a_hung_broker_costs_readyz_half_a_second_at_most(
    client: Client, ready: None, broker_at: Any
) -> None:
    # Accepts connections (the kernel does) and never answers, as a frozen Redis.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        broker_at(f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
        started = time.monotonic()
        response = client.get("/readyz")
        seconds = time.monotonic() - started

    assert (response.status_code, response.json()["checks"]["broker"]) == (200, "unreachable")
    # Probes give up after about a second: the report must not cost the instance its answer.
    assert seconds < checks.BROKER_TIMEOUT_SECONDS + 0.4


@pytest.mark.celery_worker
def test_readyz_checks_a_real_broker(
    client: Client, ready: None, redis_url: str, broker_at: Any
) -> None:
    broker_at(redis_url)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"


def test_readyz_fails_when_the_database_is_unreachable(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "cursor", _unreachable)

    response = client.get("/readyz")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["message"] == "Not ready: database."
    assert error["details"] == {
        "database": "unreachable",
        "migrations": "unknown",
        "broker": "eager",
        "projections": "unknown",
    }


@pytest.mark.postgres
def test_readyz_fails_when_the_database_refuses_writes(client: Client, ready: None) -> None:
    # This session only (as the server's default_transaction_read_only would for all of them):
    # the shared server is left as it is.
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION default_transaction_read_only = on")
    try:
        response = client.get("/readyz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION default_transaction_read_only = off")

    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["message"], error["details"]["database"]) == ("Not ready: database.", "read_only")
    assert error["details"]["migrations"] == "ok"


def test_readyz_fails_until_every_migration_is_applied(client: Client, ready: None) -> None:
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("ops", "0001_worker_heartbeats")  # as a deploy before its migrate
    try:
        unapplied = client.get("/readyz")
    finally:
        recorder.record_applied("ops", "0001_worker_heartbeats")
    applied = client.get("/readyz")

    assert unapplied.status_code == 503
    error = unapplied.json()["error"]
    assert (error["message"], error["details"]["migrations"]) == (
        "Not ready: migrations.",
        "unapplied",
    )
    assert applied.status_code == 200


def test_migrations_are_looked_up_until_applied_then_never_again(
    client: Client, ready: None
) -> None:
    assert client.get("/readyz").status_code == 200

    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("ops", "0001_worker_heartbeats")
    try:
        # Known applied: not asked again (a process's migrations are not unapplied under it).
        assert client.get("/readyz").json()["checks"]["migrations"] == "ok"
    finally:
        recorder.record_applied("ops", "0001_worker_heartbeats")


def _unreachable(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("connection refused")
