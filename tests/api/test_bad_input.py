"""Bad input found by attacking the running service (issue 9): each answers a clear error in
the contract's shape, never a fake outage (503), never a 500, never an HTML page."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from eventstore import store
from orders.streams import STREAM_TYPE, stream_id_for
from tests.orders.builders import create_body, item_body

pytestmark = pytest.mark.django_db


def place_order(api: APIClient, **overrides: Any) -> str:
    response = api.post("/api/orders", create_body(**overrides), format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["order_id"])


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert "json" in response["Content-Type"], response["Content-Type"]
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


# --- values the database cannot hold are the request's fault (400), not an outage --------------
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"version": "2147483648"}, "version"),
        ({"min_position": str(2**63)}, "min_position"),
        ({"at": "9999-12-31T23:59:59-23:59"}, "at"),
        ({"consistency_timeout": "nan", "min_position": "1"}, "consistency_timeout"),
    ],
)
def test_an_out_of_range_query_value_is_a_400_naming_it(
    api: APIClient, params: dict[str, str], field: str
) -> None:
    order_id = place_order(api)

    error = error_of(api.get(f"/api/orders/{order_id}/state", params), 400)

    assert (error["code"], list(error["details"])) == ("validation_error", [field])


def test_an_if_match_version_beyond_any_order_is_a_400(api: APIClient) -> None:
    order_id = place_order(api)

    response = api.post(
        f"/api/orders/{order_id}/cancel",
        {"reason": "x"},
        format="json",
        HTTP_IF_MATCH='"99999999999"',
    )

    assert error_of(response, 400)["details"] == {"If-Match": ["Invalid header value."]}


def test_a_token_with_a_nul_byte_is_a_401_not_an_outage() -> None:
    response = APIClient().get("/api/projections", HTTP_AUTHORIZATION="Token a\x00b")

    assert error_of(response, 401)["code"] == "not_authenticated"


# --- answers Django gives before any view are in the error shape too ---------------------------
def test_a_body_over_djangos_upload_limit_is_a_json_400(api: APIClient, settings: Any) -> None:
    body = json.dumps(create_body(customer_id="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)))

    response = api.post("/api/orders", body, content_type="application/json")

    assert error_of(response, 400)["code"] == "bad_request"


def test_a_body_of_another_media_type_is_a_json_415(api: APIClient) -> None:
    response = api.post("/api/orders", "customer_id=x", content_type="text/plain")

    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_a_disallowed_host_is_a_json_400() -> None:
    response = APIClient().get("/api/projections", HTTP_HOST="evil.example")

    assert error_of(response, 400)["code"] == "bad_request"


def test_a_post_to_an_unknown_path_is_a_json_404_not_a_csrf_403(clerk: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(clerk)

    response = client.post("/api/nope", {}, format="json")

    assert error_of(response, 404)["code"] == "not_found"


# --- unit_price: a decimal string with at most two places --------------------------------------
@pytest.mark.parametrize("price", ["1e2", " 1.00", "1.00 ", "+1.00", "1,00", ".5", "1.", "", "0x1"])
def test_a_unit_price_string_that_is_not_a_plain_decimal_is_refused(
    api: APIClient, price: str
) -> None:
    response = api.post("/api/orders", create_body(items=[item_body(unit_price=price)]), "json")

    assert "items" in error_of(response, 400)["details"]


@pytest.mark.parametrize(
    ("price", "stored"),
    [("12.5", "12.50"), ("-0.00", "0.00"), ("1000000", "1000000.00"), (19.99, "19.99")],
)
def test_a_unit_price_as_a_plain_decimal_string_or_a_json_number_is_taken(
    api: APIClient, price: Any, stored: str
) -> None:
    order_id = place_order(api, items=[item_body(unit_price=price)])

    assert api.get(f"/api/orders/{order_id}/state").json()["items"][0]["unit_price"] == stored


# --- money of any size or form is a 400 or taken, never a 500 (issue 16) ---------------------
# JSON numbers as sent (the body's text): huge, tiny, many digits, exponent forms, not numbers.
REFUSED_PRICES = [
    "1e25",
    "1e26",
    "-1e26",
    "1E+400",
    "1e9999999999999999999",
    "1e-400",
    "1" * 40,
    "1" * 30 + ".00",
    "0.001",
    "1e-3",
    "1000000.01",
    "-0.01",
    "NaN",
    "Infinity",
    "-Infinity",
]


def with_price(body: dict[str, Any], raw: str) -> str:
    """``body`` as JSON text whose unit_price is the JSON number ``raw``, written as is."""
    return json.dumps(body).replace('"unit_price": "PRICE"', f'"unit_price": {raw}')


@pytest.mark.parametrize("raw", REFUSED_PRICES)
def test_a_unit_price_number_out_of_range_or_finer_than_cents_is_a_400_on_every_command(
    api: APIClient, raw: str
) -> None:
    order_id = place_order(api)
    created = api.post(
        "/api/orders",
        with_price(create_body(items=[item_body(unit_price="PRICE")]), raw),
        content_type="application/json",
    )
    added = api.post(
        f"/api/orders/{order_id}/items",
        with_price(item_body(unit_price="PRICE"), raw),
        content_type="application/json",
    )

    for response in (created, added):
        error = error_of(response, 400)
        assert error["code"] == "validation_error"
        assert {"items", "unit_price", "body"} & set(error["details"]), error
    assert len(store.read_stream(stream_id_for(uuid.UUID(order_id)))) == 1  # nothing appended


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("1e2", "100.00"),
        ("1.5E+1", "15.00"),
        ("1E6", "1000000.00"),
        ("19.990", "19.99"),
        ("0E-10", "0.00"),
        ("-0", "0.00"),
        ("999999.99", "999999.99"),
    ],
)
def test_a_unit_price_number_in_exponent_form_within_the_rules_is_taken(
    api: APIClient, raw: str, stored: str
) -> None:
    response = api.post(
        "/api/orders",
        with_price(create_body(items=[item_body(unit_price="PRICE")]), raw),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    order_id = response.json()["order_id"]

    assert api.get(f"/api/orders/{order_id}/state").json()["items"][0]["unit_price"] == stored


@pytest.mark.parametrize(
    "amount",
    [
        "1e26",
        "1e2",
        "1" * 30,
        "10000000000000.00",
        "NaN",
        "Infinity",
        "-1",
        "0.001",
        "\uff11",
        " 1",
    ],
)
@pytest.mark.parametrize("name", ["min_total", "max_total"])
def test_a_search_amount_that_is_no_plain_decimal_in_range_is_a_400_naming_it(
    api: APIClient, name: str, amount: str
) -> None:
    error = error_of(api.get("/api/orders/search", {name: amount}), 400)

    assert (error["code"], list(error["details"])) == ("validation_error", [name])


@pytest.mark.parametrize("amount", ["0", "5000000000000.00", "9999999999999.99"])
def test_a_search_amount_up_to_past_the_largest_order_total_is_taken(
    api: APIClient, amount: str
) -> None:
    place_order(api)

    assert api.get("/api/orders/search", {"min_total": amount}).status_code == 200


# --- an event that no longer folds ---------------------------------------------------------------
def test_an_order_whose_log_does_not_fold_answers_order_unreadable_and_the_rest_works(
    api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = place_order(api)
    broken = {"order_id": order_id, "product_id": "sku-9", "quantity": "lots", "unit_price": "1"}
    store.append_to_stream(
        stream_id_for(uuid.UUID(order_id)),
        STREAM_TYPE,
        [store.NewEvent(event_type="OrderItemAdded", data=broken, metadata={})],
        expected_version=1,
    )

    with caplog.at_level(logging.ERROR, logger="orders.repository"):
        state = api.get(f"/api/orders/{order_id}/state")
        command = api.post(f"/api/orders/{order_id}/ship", {}, format="json")

    for response in (state, command):
        error = error_of(response, 409)
        assert error["code"] == "order_unreadable"
        assert error["details"] == {"order_id": order_id, "version": 2}
    assert f"order {order_id} cannot be read" in caplog.text
    assert api.get(f"/api/orders/{order_id}/history").status_code == 200  # the log itself reads
    place_order(api)  # and the rest of the service works


# --- parse errors say what is wrong with the body, not how Python found out ---------------------
@pytest.mark.parametrize(
    "body",
    ['{"customer_id": ' + "1" * 5000 + "}", '{"a": NaN}', "[" * 100_000, b"\xff\xfe{}"],
    ids=["huge integer", "NaN", "deep nesting", "not UTF-8"],
)
def test_a_malformed_body_is_a_400_without_python_internals(api: APIClient, body: Any) -> None:
    response = api.post("/api/orders", body, content_type="application/json")

    message = error_of(response, 400)["message"]
    assert message.startswith(("Malformed JSON", "The body is not UTF-8")), message
    assert "sys." not in message
    assert "Python" not in message


# --- a replayed idempotent answer is the first one, byte for byte ------------------------------
def test_a_replayed_idempotent_answer_is_byte_identical(api: APIClient) -> None:
    body = create_body()

    first = api.post("/api/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


# --- throttling ----------------------------------------------------------------------------------
def test_a_user_over_the_rate_gets_a_429_in_the_error_shape(api: APIClient, settings: Any) -> None:
    settings.API_THROTTLE_RATES = {"anon": None, "user": "2/minute"}

    answers = [api.get("/api/projections") for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert error_of(answers[2], 429)["code"] == "throttled"
    assert int(answers[2]["Retry-After"]) > 0


def test_anonymous_clients_over_the_rate_get_a_429(settings: Any) -> None:
    # DRF refuses an anonymous request to a protected endpoint (401) before any throttle runs:
    # the anonymous rate bounds what anonymous clients may read, the schema and docs.
    settings.API_THROTTLE_RATES = {"anon": "1/minute", "user": None}
    client = APIClient()

    answers = [client.get("/api/schema/", {"format": "json"}) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 429]
    assert error_of(answers[1], 429)["code"] == "throttled"
