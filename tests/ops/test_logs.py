"""Log lines: JSON with the request, correlation, command and task ids; text in development."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from ops import redaction
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


SECRET_KEY = "test-secret-key-" + "k" * 40
DB_PASSWORD = "pw-f4ll0w-\"the'white/rabbit@"  # quotes, a slash and an @: escaped in reprs/URLs
METRICS_TOKEN = "metrics-token-7d1f0c"
LINE1 = "742 Evergreen Terrace"


def _fails_with_secrets_in_its_locals(database: dict[str, Any], body: dict[str, Any]) -> None:
    conn_params = {"host": "db", "password": database["PASSWORD"]}  # as psycopg's connect has
    token = "Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    raise ConnectionError(f"cannot reach {conn_params['host']} for {len(body)} fields {len(token)}")


def _record_of_a_failure(message: str = "failed", *args: Any) -> logging.LogRecord:
    database = {**connection.settings_dict, "PASSWORD": DB_PASSWORD}
    try:
        _fails_with_secrets_in_its_locals(
            database, {**ORDER_BODY["shipping_address"], "line1": LINE1}
        )
    except ConnectionError:
        return logging.LogRecord("x", logging.WARNING, __file__, 1, message, args, sys.exc_info())
    raise AssertionError("did not fail")


@pytest.mark.parametrize("json_format", [True, False], ids=["json", "text"])
def test_tracebacks_carry_no_local_variables(json_format: bool) -> None:
    # The password is configured nowhere here: only leaving the locals out keeps it out.
    text = formatter(json=json_format).format(_record_of_a_failure())

    assert "_fails_with_secrets_in_its_locals" in text  # the traceback is there...
    assert "cannot reach db for 4 fields 46" in text
    for leaked in ("white/rabbit", "rabbit", LINE1, "9944b09199c62bcf"):  # ...its locals not
        assert leaked not in text


@pytest.mark.parametrize("json_format", [True, False], ids=["json", "text"])
def test_configured_secrets_are_redacted_wherever_they_appear(
    json_format: bool, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SECRET_KEY = SECRET_KEY
    settings.METRICS_TOKEN = METRICS_TOKEN
    monkeypatch.setitem(django_settings.DATABASES["default"], "PASSWORD", DB_PASSWORD)
    # The broker's password only in the environment (as the gunicorn master has it).
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:br0ker-pass@redis:6379/0")
    redaction.forget_secrets()  # changed behind the settings' back: no signal said so
    quoted = "pw-f4ll0w-%22the%27white%2Frabbit%40"
    record = _record_of_a_failure(
        "key %s, token %r, dsn postgres://app:%s@db/orders, broker %s, repr %r",
        SECRET_KEY,
        METRICS_TOKEN,
        quoted,
        "br0ker-pass",
        {"db": DB_PASSWORD},
    )
    record.settings = {"PASSWORD": DB_PASSWORD, "other": "kept"}  # an extra= field

    text = formatter(json=json_format).format(record)

    for secret in (SECRET_KEY, METRICS_TOKEN, "white", "rabbit", "br0ker-pass"):
        assert secret not in text
    assert "dsn postgres://app:[redacted]@db/orders" in text
    assert "kept" in text


def test_personal_address_fields_in_a_repr_or_a_pair_are_redacted() -> None:
    text = (
        "bad payload {'line1': '1 Secret St', 'city': 'Hushton', 'country': 'PT'} postal_code=QX-1"
    )
    assert redaction.redact_text(text) == (
        "bad payload {'line1': [redacted], 'city': [redacted], 'country': 'PT'} "
        "postal_code=[redacted]"
    )
    assert redaction.redact_text('{"line2": "Flat 2"}') == '{"line2": [redacted]}'


def test_credentials_in_any_shape_are_redacted() -> None:
    assert redaction.redact_text(
        "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    ) == ("Authorization: Token [redacted]")
    assert redaction.redact_text("Bearer abcdefgh12345678 sent") == "Bearer [redacted] sent"
    assert redaction.redact_text("Token authentication") == "Token authentication"
    assert (
        redaction.redact_text("host=db password=hunter22 dbname=x")
        == "host=db password=[redacted] dbname=x"
    )
    assert redaction.redact_text("{'user': 'app', 'password': 'hunter 22'}") == (
        "{'user': 'app', 'password': [redacted]}"
    )
    assert (
        redaction.redact_text("amqp://guest:guest22@rabbit:5672//")
        == "amqp://guest:[redacted]@rabbit:5672//"
    )
    # What is not a credential stays.
    for text in ("GET /api/orders 200", "http://127.0.0.1:8000/readyz", "the token expired"):
        assert redaction.redact_text(text) == text
