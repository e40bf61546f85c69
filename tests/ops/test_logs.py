"""Log lines: JSON with the request, correlation, command and task ids; text in development."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from ops.logs import formatter
from tests.ops.conftest import ORDER_BODY

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, formatted as production formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json=True))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_command_request_logs_json_lines_carrying_its_ids(
    api: APIClient, json_lines: io.StringIO
) -> None:
    response = api.post(
        "/api/orders",
        ORDER_BODY,
        format="json",
        HTTP_X_REQUEST_ID="req-42",
        HTTP_X_CORRELATION_ID="corr-7",
    )
    order_id = response.json()["order_id"]

    logged = lines(json_lines)
    command = next(line for line in logged if line["logger"] == "orders.services")
    request = next(line for line in logged if line["logger"] == "ops.requests")
    assert response["X-Request-ID"] == "req-42"
    assert command == {
        "event": "command ok",
        "level": "info",
        "logger": "orders.services",
        "timestamp": command["timestamp"],
        "request_id": "req-42",
        "correlation_id": "corr-7",
        "command_type": "CreateOrder",
        "order_id": order_id,
        "outcome": "ok",
    }
    assert request["event"] == "POST /api/orders 201"
    assert {k: request[k] for k in ("request_id", "correlation_id", "route", "status")} == {
        "request_id": "req-42",
        "correlation_id": "corr-7",
        "route": "/api/orders",
        "status": 201,
    }
    assert request["duration_ms"] > 0
    # The catch-up task ran eagerly inside the request; its ids did not stay on later lines.
    assert "task_id" not in request and "command_type" not in request


def test_a_refused_command_logs_its_outcome_and_made_up_ids(
    api: APIClient, json_lines: io.StringIO
) -> None:
    order_id = api.post("/api/orders", ORDER_BODY, format="json").json()["order_id"]
    api.post(f"/api/orders/{order_id}/cancel", {"reason": "no"}, format="json")
    json_lines.truncate(0)
    json_lines.seek(0)

    response = api.post(f"/api/orders/{order_id}/ship", {}, format="json")

    [command, request] = [
        line for line in lines(json_lines) if line["logger"] in ("orders.services", "ops.requests")
    ]
    assert response.status_code == 409
    assert command["outcome"] == "order_cancelled"
    assert command["order_id"] == order_id
    assert command["command_type"] == "ShipOrder"
    # None sent: made up once for the request, carried by the command and the request line.
    assert command["correlation_id"] == request["correlation_id"]
    assert len(command["correlation_id"]) == 36
    assert command["request_id"] == request["request_id"] == response["X-Request-ID"]


def test_task_lines_carry_the_task_and_the_request_that_sent_it(
    api: APIClient, json_lines: io.StringIO
) -> None:
    logging.getLogger("celery.app.trace").setLevel(logging.INFO)
    try:
        api.post("/api/orders", ORDER_BODY, format="json", HTTP_X_REQUEST_ID="req-9")
    finally:
        logging.getLogger("celery.app.trace").setLevel(logging.NOTSET)

    task = next(line for line in lines(json_lines) if line["logger"] == "celery.app.trace")
    assert task["task_name"] == "projections.catch_up"
    assert task["task_id"]
    assert task["request_id"] == "req-9"


def test_development_lines_are_text() -> None:
    record = logging.LogRecord("orders.services", logging.INFO, __file__, 1, "command ok", (), None)
    record.outcome = "ok"

    text = formatter(json=False).format(record)

    assert "command ok" in text
    assert "outcome=ok" in text
    assert not text.startswith("{")


def test_development_tracebacks_are_plain_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "failed", (), sys.exc_info())

    text = formatter(json=False).format(record)

    assert "Traceback (most recent call last):" in text
    assert "ValueError: boom" in text
    assert "│" not in text  # not rich's boxed rendering (slow, and only where rich is installed)
