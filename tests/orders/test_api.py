"""The command API and the log-backed reads, checked against the REST contract through DRF."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta, timezone
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.db import OperationalError, connection
from django.utils import timezone as django_timezone
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from eventstore.models import Event
from orders.idempotency import expire as expire_idempotency_keys
from orders.models import IdempotencyRecord
from tests.orders.builders import address_body, create_body, item_body

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "details"}
RESULT_KEYS = {"order_id", "version", "position"}
HISTORY_KEYS = {
    "position",
    "version",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
}
SLASHES = pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])


# --- users and clients ----------------------------------------------------------------------
# No passwords: hashing one costs a noticeable fraction of a second, and clients log in by
# token, force_login or force_authenticate.
@pytest.fixture
def plain_user(db: None) -> User:
    return User.objects.create_user("plain")


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def api(clerk: User) -> APIClient:
    """The order clerk, authenticated by a DRF token."""
    client = APIClient()
    token = Token.objects.create(user=clerk)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def session_api(clerk: User) -> APIClient:
    """The order clerk, authenticated by a session cookie."""
    client = APIClient()
    client.force_login(clerk)
    return client


@pytest.fixture
def plain_api(plain_user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(plain_user)
    return client


@pytest.fixture
def admin_api(superuser: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(superuser)
    return client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


# --- helpers --------------------------------------------------------------------------------
def place_order(client: APIClient, **overrides: Any) -> str:
    response = client.post("/api/orders", create_body(**overrides), format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["order_id"])


def history(client: APIClient, order_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/orders/{order_id}/history")
    assert response.status_code == 200, response.content
    return list(response.json())


def state(client: APIClient, order_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/orders/{order_id}/state", params)
    assert response.status_code == 200, response.content
    return dict(response.json())


def assert_result(response: Any, *, status: int, order_id: str | None, version: int) -> dict:
    """A command's success answer: the result body, and ETag "<version>"."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == RESULT_KEYS
    if order_id is not None:
        assert body["order_id"] == order_id
    uuid.UUID(body["order_id"])
    assert body["version"] == version
    last = Event.objects.filter(stream_id=f"Order-{body['order_id']}").latest("version")
    assert body["position"] == last.global_position
    assert last.version == version
    assert response["ETag"] == f'"{version}"'
    return dict(body)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's one error shape, with the given status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return dict(body["error"])


@contextmanager
def nothing_appended() -> Iterator[None]:
    """The block writes no event and keeps no idempotency record."""
    events, keys = Event.objects.count(), IdempotencyRecord.objects.count()
    yield
    assert Event.objects.count() == events
    assert IdempotencyRecord.objects.count() == keys


# --- permissions and users ------------------------------------------------------------------
def test_the_order_clerks_group_holds_the_command_permission(db: None) -> None:
    # What the data migration runs (idempotent), since an earlier transactional test may have
    # emptied the tables it filled.
    migration = importlib.import_module("orders.migrations.0002_order_clerks_group")
    migration.forward(django_apps, None)
    group = Group.objects.get(name="order-clerks")

    # (The back office's clerk role gives the group the order pages' view permissions too.)
    held = list(group.permissions.values_list("content_type__app_label", "codename"))
    assert ("orders", "issue_order_commands") in held


# --- creating -------------------------------------------------------------------------------
@SLASHES
def test_creating_an_order_answers_201_with_location_etag_and_the_result(
    api: APIClient, slash: str
) -> None:
    response = api.post(f"/api/orders{slash}", create_body(), format="json")

    body = assert_result(response, status=201, order_id=None, version=1)
    assert response["Location"].rstrip("/").endswith(f"/api/orders/{body['order_id']}")
    assert Event.objects.get(global_position=body["position"]).event_type == "OrderCreated"


def test_creating_an_order_records_the_items_address_and_currency(api: APIClient) -> None:
    body = create_body(
        items=[item_body("sku-1", 3, "0.10"), item_body("sku-2", 1, 19.99)],
        shipping_address=address_body(line2="Flat 3"),
        currency="EUR",
    )
    order_id = str(api.post("/api/orders", body, format="json").json()["order_id"])

    view = state(api, order_id)

    assert view["status"] == "pending"
    assert view["currency"] == "EUR"
    assert view["customer_id"] == "cust-1"
    assert view["total_amount"] == "20.29"
    assert view["item_count"] == 4
    assert view["items"] == [
        {"product_id": "sku-1", "quantity": 3, "unit_price": "0.10", "line_total": "0.30"},
        {"product_id": "sku-2", "quantity": 1, "unit_price": "19.99", "line_total": "19.99"},
    ]
    assert view["shipping_address"] == {**address_body(), "line2": "Flat 3"}
    assert view["version"] == 1


def test_creating_an_order_defaults_the_currency_to_usd(api: APIClient) -> None:
    order_id = place_order(api)

    assert state(api, order_id)["currency"] == "USD"


def test_creating_an_order_with_500_distinct_products_is_accepted(api: APIClient) -> None:
    items = [item_body(f"sku-{n}", 1, "1.00") for n in range(500)]

    order_id = place_order(api, items=items)

    assert state(api, order_id)["item_count"] == 500


def test_creating_an_order_with_the_limit_values_is_accepted(api: APIClient) -> None:
    items = [item_body("max", 10_000, "1000000.00"), item_body("free", 1, "0.00")]

    order_id = place_order(api, items=items)

    assert state(api, order_id)["total_amount"] == "10000000000.00"


def test_a_session_authenticated_clerk_can_create_an_order(session_api: APIClient) -> None:
    response = session_api.post("/api/orders", create_body(), format="json")

    assert_result(response, status=201, order_id=None, version=1)


def test_a_superuser_can_create_an_order_without_the_group(admin_api: APIClient) -> None:
    response = admin_api.post("/api/orders", create_body(), format="json")

    assert_result(response, status=201, order_id=None, version=1)


# --- the other commands ---------------------------------------------------------------------
@SLASHES
def test_adding_an_item_answers_200_with_the_new_version(api: APIClient, slash: str) -> None:
    order_id = place_order(api)

    response = api.post(
        f"/api/orders/{order_id}/items{slash}", item_body("sku-9", 2, "3.00"), format="json"
    )

    assert_result(response, status=200, order_id=order_id, version=2)
    assert state(api, order_id)["total_amount"] == "31.50"


def test_adding_a_product_already_on_the_order_adds_to_its_quantity(api: APIClient) -> None:
    order_id = place_order(api)

    api.post(f"/api/orders/{order_id}/items", item_body("sku-1", 5, "10.00"), format="json")

    view = state(api, order_id)
    assert [(i["product_id"], i["quantity"]) for i in view["items"]] == [("sku-1", 7), ("sku-2", 1)]
    assert view["item_count"] == 8


@SLASHES
def test_removing_an_item_answers_200_with_the_new_version(api: APIClient, slash: str) -> None:
    order_id = place_order(api)

    response = api.delete(f"/api/orders/{order_id}/items/sku-2{slash}")

    assert_result(response, status=200, order_id=order_id, version=2)
    assert [i["product_id"] for i in state(api, order_id)["items"]] == ["sku-1"]


@SLASHES
def test_changing_the_shipping_address_answers_200(api: APIClient, slash: str) -> None:
    order_id = place_order(api)
    new_address = address_body(city="Shelbyville", line2="Flat 3")

    response = api.put(
        f"/api/orders/{order_id}/shipping-address{slash}", new_address, format="json"
    )

    assert_result(response, status=200, order_id=order_id, version=2)
    assert state(api, order_id)["shipping_address"] == new_address


@SLASHES
def test_shipping_an_order_answers_200(api: APIClient, slash: str) -> None:
    order_id = place_order(api)

    response = api.post(
        f"/api/orders/{order_id}/ship{slash}",
        {"carrier": "UPS", "tracking_number": "1Z999"},
        format="json",
    )

    assert_result(response, status=200, order_id=order_id, version=2)
    assert state(api, order_id)["status"] == "shipped"
    assert history(api, order_id)[-1]["data"]["carrier"] == "UPS"


def test_shipping_an_order_needs_no_body(api: APIClient) -> None:
    order_id = place_order(api)

    response = api.post(f"/api/orders/{order_id}/ship")

    assert_result(response, status=200, order_id=order_id, version=2)


@SLASHES
def test_cancelling_an_order_by_post_answers_200(api: APIClient, slash: str) -> None:
    order_id = place_order(api)

    response = api.post(
        f"/api/orders/{order_id}/cancel{slash}", {"reason": "changed my mind ✓"}, format="json"
    )

    assert_result(response, status=200, order_id=order_id, version=2)
    view = state(api, order_id)
    assert (view["status"], view["cancel_reason"]) == ("cancelled", "changed my mind ✓")


@SLASHES
def test_cancelling_an_order_by_delete_with_a_reason_answers_200(
    api: APIClient, slash: str
) -> None:
    order_id = place_order(api)

    response = api.delete(f"/api/orders/{order_id}{slash}?reason=out%20of%20stock")

    assert_result(response, status=200, order_id=order_id, version=2)
    view = state(api, order_id)
    assert (view["status"], view["cancel_reason"]) == ("cancelled", "out of stock")


def test_a_full_order_lifecycle_counts_versions_and_positions(api: APIClient) -> None:
    order_id = place_order(api)
    responses = [
        api.post(f"/api/orders/{order_id}/items", item_body("sku-3"), format="json"),
        api.delete(f"/api/orders/{order_id}/items/sku-2"),
        api.put(f"/api/orders/{order_id}/shipping-address", address_body(), format="json"),
        api.post(f"/api/orders/{order_id}/ship", {}, format="json"),
    ]

    versions = [r.json()["version"] for r in responses]
    positions = [r.json()["position"] for r in responses]
    assert versions == [2, 3, 4, 5]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert [e["event_type"] for e in history(api, order_id)] == [
        "OrderCreated",
        "OrderItemAdded",
        "OrderItemRemoved",
        "ShippingAddressChanged",
        "OrderShipped",
    ]


# --- authentication and permission ----------------------------------------------------------
def _command_requests(order_id: str) -> dict[str, Callable[..., Any]]:
    """One request per command endpoint: ``send(client, **headers)`` sends it."""
    order = f"/api/orders/{order_id}"
    return {
        "create": lambda c, **h: c.post("/api/orders", create_body(), format="json", **h),
        "add": lambda c, **h: c.post(f"{order}/items", item_body(), format="json", **h),
        "remove": lambda c, **h: c.delete(f"{order}/items/sku-1", **h),
        "address": lambda c, **h: c.put(
            f"{order}/shipping-address", address_body(), format="json", **h
        ),
        "ship": lambda c, **h: c.post(f"{order}/ship", {}, format="json", **h),
        "cancel": lambda c, **h: c.post(f"{order}/cancel", {"reason": "r"}, format="json", **h),
        "delete": lambda c, **h: c.delete(f"{order}?reason=r", **h),
    }


COMMANDS = list(_command_requests("x"))


@pytest.mark.parametrize("command", COMMANDS)
def test_an_anonymous_command_answers_401_not_authenticated(
    api: APIClient, anonymous: APIClient, command: str
) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = _command_requests(order_id)[command](anonymous)

    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_with_an_unknown_token_answers_401(api: APIClient, command: str) -> None:
    order_id = place_order(api)
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    with nothing_appended():
        response = _command_requests(order_id)[command](stranger)

    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_from_a_user_without_the_permission_answers_403(
    api: APIClient, plain_api: APIClient, command: str
) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = _command_requests(order_id)[command](plain_api)

    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_token_holding_user_without_the_permission_gets_403(
    api: APIClient, plain_user: User, command: str
) -> None:
    order_id = place_order(api)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=plain_user).key}")

    with nothing_appended():
        response = _command_requests(order_id)[command](client)

    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize("suffix", ["history", "state"])
def test_an_anonymous_read_answers_401(api: APIClient, anonymous: APIClient, suffix: str) -> None:
    order_id = place_order(api)

    assert_error(anonymous.get(f"/api/orders/{order_id}/{suffix}"), 401, "not_authenticated")


@pytest.mark.parametrize("suffix", ["history", "state"])
def test_any_authenticated_user_can_read_history_and_state(
    api: APIClient, plain_api: APIClient, suffix: str
) -> None:
    order_id = place_order(api)

    assert plain_api.get(f"/api/orders/{order_id}/{suffix}").status_code == 200


# --- validation: creating -------------------------------------------------------------------
def _without(body: dict[str, Any], *path: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return dict(copy)


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(create_body()))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return dict(copy)


INVALID_CREATE_BODIES = {
    "missing customer_id": (_without(create_body(), "customer_id"), "customer_id"),
    "missing items": (_without(create_body(), "items"), "items"),
    "missing shipping_address": (_without(create_body(), "shipping_address"), "shipping_address"),
    "missing city": (_without(create_body(), "shipping_address", "city"), "shipping_address"),
    "missing quantity": (_without(create_body(), "items", 0, "quantity"), "items"),
    "missing unit_price": (_without(create_body(), "items", 0, "unit_price"), "items"),
    "missing product_id": (_without(create_body(), "items", 0, "product_id"), "items"),
    "quantity as a string": (_with(("items", 0, "quantity"), "5"), "items"),
    "quantity as a float": (_with(("items", 0, "quantity"), 1.5), "items"),
    "quantity as 2.0": (_with(("items", 0, "quantity"), 2.0), "items"),
    "quantity as a bool": (_with(("items", 0, "quantity"), True), "items"),
    "quantity null": (_with(("items", 0, "quantity"), None), "items"),
    "negative quantity": (_with(("items", 0, "quantity"), -1), "items"),
    "zero quantity": (_with(("items", 0, "quantity"), 0), "items"),
    "quantity 10001": (_with(("items", 0, "quantity"), 10_001), "items"),
    "huge quantity": (_with(("items", 0, "quantity"), 10**40), "items"),
    "unit_price as a bool": (_with(("items", 0, "unit_price"), True), "items"),
    "unit_price 1000000.01": (_with(("items", 0, "unit_price"), "1000000.01"), "items"),
    "unit_price with 3 decimals": (_with(("items", 0, "unit_price"), "1.005"), "items"),
    "unit_price number with 3 decimals": (_with(("items", 0, "unit_price"), 1.005), "items"),
    "negative unit_price": (_with(("items", 0, "unit_price"), "-0.01"), "items"),
    "unit_price not a number": (_with(("items", 0, "unit_price"), "ten"), "items"),
    "unit_price NaN": (_with(("items", 0, "unit_price"), "NaN"), "items"),
    "unit_price Infinity": (_with(("items", 0, "unit_price"), "Infinity"), "items"),
    "unit_price as an object": (_with(("items", 0, "unit_price"), {"amount": 1}), "items"),
    "customer_id as a number": (_with(("customer_id",), 12345), "customer_id"),
    "customer_id null": (_with(("customer_id",), None), "customer_id"),
    "customer_id empty": (_with(("customer_id",), ""), "customer_id"),
    "customer_id 65 chars": (_with(("customer_id",), "c" * 65), "customer_id"),
    "customer_id with a space": (_with(("customer_id",), "cust 1"), "customer_id"),
    "customer_id with unicode": (_with(("customer_id",), "cüst-1"), "customer_id"),
    "customer_id fullwidth": (_with(("customer_id",), "\uff43\uff55\uff53\uff54"), "customer_id"),
    "customer_id emoji": (_with(("customer_id",), "cust-🛒"), "customer_id"),
    "customer_id NUL": (_with(("customer_id",), "cust\u0000"), "customer_id"),
    "customer_id slash": (_with(("customer_id",), "cust/1"), "customer_id"),
    "product_id with a space": (_with(("items", 0, "product_id"), "sku 1"), "items"),
    "product_id with unicode": (_with(("items", 0, "product_id"), "skü-1"), "items"),
    "product_id as a number": (_with(("items", 0, "product_id"), 7), "items"),
    "product_id 65 chars": (_with(("items", 0, "product_id"), "p" * 65), "items"),
    "extra top-level field": ({**create_body(), "discount": "5.00"}, "discount"),
    "extra item field": (_with(("items", 0, "colour"), "red"), "items"),
    "extra address field": (_with(("shipping_address", "planet"), "Mars"), "shipping_address"),
    "empty items": (create_body(items=[]), "items"),
    "items not a list": (create_body(items={"product_id": "x"}), "items"),
    "item not an object": (create_body(items=["sku-1"]), "items"),
    "501 items": (create_body(items=[item_body(f"s{n}") for n in range(501)]), "items"),
    "address not an object": (create_body(shipping_address="1 Main St"), "shipping_address"),
    "address city a number": (_with(("shipping_address", "city"), 42), "shipping_address"),
    "lowercase currency": (create_body(currency="usd"), "currency"),
    "currency a number": (create_body(currency=840), "currency"),
}


@pytest.mark.parametrize(
    ("body", "field"), INVALID_CREATE_BODIES.values(), ids=INVALID_CREATE_BODIES.keys()
)
def test_an_invalid_create_body_answers_400_naming_the_field(
    api: APIClient, body: dict[str, Any], field: str
) -> None:
    with nothing_appended():
        response = api.post("/api/orders", body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert all(isinstance(m, (list, dict)) for m in error["details"].values())


SPACED_IDS = {
    "leading space in customer_id": _with(("customer_id",), " cust-1"),
    "trailing space in customer_id": _with(("customer_id",), "cust-1 "),
    "trailing newline in customer_id": _with(("customer_id",), "cust-1\n"),
    "leading space in product_id": _with(("items", 0, "product_id"), " sku-1"),
    "trailing tab in product_id": _with(("items", 0, "product_id"), "sku-1\t"),
}


@pytest.mark.parametrize("body", SPACED_IDS.values(), ids=SPACED_IDS.keys())
def test_an_id_with_surrounding_whitespace_answers_400(api: APIClient, body: dict) -> None:
    with nothing_appended():
        response = api.post("/api/orders", body, format="json")

    assert_error(response, 400, "validation_error")


RAW_BODIES = {
    "malformed JSON": b'{"customer_id": "cust-1", "items": [',
    "a JSON array": json.dumps([create_body()]).encode(),
    "a JSON string": b'"cust-1"',
    "a JSON number": b"42",
    "JSON null": b"null",
    "NaN literal": b'{"customer_id": NaN}',
    "lone surrogate": b'{"customer_id": "\\ud800"}',
    "invalid UTF-8": b'{"customer_id": "\xff\xfe"}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "a 2 MB body": json.dumps(create_body(notes="x" * (2 * 1024 * 1024))).encode(),
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_a_body_that_is_not_a_json_object_answers_400(api: APIClient, raw: bytes) -> None:
    with nothing_appended():
        response = api.generic("POST", "/api/orders", raw, content_type="application/json")

    assert_error(response, 400, "validation_error")


def test_a_2_mb_body_is_refused_on_every_command(api: APIClient) -> None:
    order_id = place_order(api)
    raw = json.dumps({"reason": "x" * (2 * 1024 * 1024)}).encode()

    with nothing_appended():
        responses = [
            api.generic("POST", f"/api/orders/{order_id}/cancel", raw, "application/json"),
            api.generic("POST", f"/api/orders/{order_id}/items", raw, "application/json"),
            api.generic("PUT", f"/api/orders/{order_id}/shipping-address", raw, "application/json"),
        ]

    for response in responses:
        assert_error(response, 400, "validation_error")


def test_an_empty_create_body_answers_400_listing_the_required_fields(api: APIClient) -> None:
    with nothing_appended():
        response = api.post("/api/orders", {}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert {"customer_id", "items", "shipping_address"} <= set(error["details"])


# --- validation: the other commands ---------------------------------------------------------
INVALID_ITEMS = {
    "missing quantity": {"product_id": "sku-1", "unit_price": "1.00"},
    "quantity as a string": item_body(quantity="5"),
    "quantity as a float": item_body(quantity=1.5),
    "quantity as a bool": item_body(quantity=True),
    "negative quantity": item_body(quantity=-3),
    "quantity 10001": item_body(quantity=10_001),
    "unit_price as a bool": item_body(unit_price=False),
    "unit_price 1000000.01": item_body(unit_price="1000000.01"),
    "unit_price with 3 decimals": item_body(unit_price="0.001"),
    "product_id with junk": item_body(product_id="sku\u200b1"),
    "extra field": {**item_body(), "note": "gift"},
    "a list": [item_body()],
}


@pytest.mark.parametrize("body", INVALID_ITEMS.values(), ids=INVALID_ITEMS.keys())
def test_an_invalid_item_answers_400(api: APIClient, body: Any) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = api.post(f"/api/orders/{order_id}/items", body, format="json")

    assert_error(response, 400, "validation_error")


INVALID_ADDRESSES = {
    "missing line1": _without(address_body(), "line1"),
    "missing country": _without(address_body(), "country"),
    "city a number": address_body(city=7),
    "extra field": address_body(planet="Mars"),
    "empty": {},
}


@pytest.mark.parametrize("body", INVALID_ADDRESSES.values(), ids=INVALID_ADDRESSES.keys())
def test_an_invalid_address_answers_400(api: APIClient, body: dict[str, Any]) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = api.put(f"/api/orders/{order_id}/shipping-address", body, format="json")

    assert_error(response, 400, "validation_error")


INVALID_REASONS = {
    "missing": {},
    "empty": {"reason": ""},
    "501 chars": {"reason": "r" * 501},
    "a number": {"reason": 5},
    "null": {"reason": None},
    "extra field": {"reason": "r", "refund": True},
}


@pytest.mark.parametrize("body", INVALID_REASONS.values(), ids=INVALID_REASONS.keys())
def test_an_invalid_cancel_reason_answers_400(api: APIClient, body: dict[str, Any]) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = api.post(f"/api/orders/{order_id}/cancel", body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) & {"reason", "refund"}


@pytest.mark.parametrize("query", ["", "?reason=", f"?reason={'r' * 501}"])
def test_cancelling_by_delete_without_a_valid_reason_answers_400(
    api: APIClient, query: str
) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = api.delete(f"/api/orders/{order_id}{query}")

    assert_error(response, 400, "validation_error")


def test_a_reason_of_500_chars_is_accepted(api: APIClient) -> None:
    order_id = place_order(api)

    response = api.post(f"/api/orders/{order_id}/cancel", {"reason": "r" * 500}, format="json")

    assert_result(response, status=200, order_id=order_id, version=2)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "create"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "12345", "0000", "ö"])
def test_a_bad_uuid_in_the_path_answers_400(api: APIClient, command: str, bad_id: str) -> None:
    with nothing_appended():
        response = _command_requests(bad_id)[command](api)

    error = assert_error(response, 400, "validation_error")
    assert "order_id" in error["details"]


@pytest.mark.parametrize("suffix", ["history", "state"])
def test_a_bad_uuid_in_a_read_path_answers_400(api: APIClient, suffix: str) -> None:
    assert_error(api.get(f"/api/orders/not-a-uuid/{suffix}"), 400, "validation_error")


@pytest.mark.parametrize("product_id", ["sku%201", "sk%C3%BC", "%E2%98%83", "p" * 65])
def test_removing_an_item_with_a_malformed_product_id_answers_400(
    api: APIClient, product_id: str
) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = api.delete(f"/api/orders/{order_id}/items/{product_id}")

    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("if_match", ["abc", '"abc"', '"-1"', '"1.5"', ""])
def test_a_malformed_if_match_answers_400(api: APIClient, if_match: str) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = api.post(
            f"/api/orders/{order_id}/items", item_body(), format="json", HTTP_IF_MATCH=if_match
        )

    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("key", ["k" * 256, "", "ключ"])
def test_a_malformed_idempotency_key_answers_400(api: APIClient, key: str) -> None:
    with nothing_appended():
        response = api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert_error(response, 400, "validation_error")


def test_an_idempotency_key_of_255_chars_is_accepted(api: APIClient) -> None:
    response = api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 255)

    assert response.status_code == 201


# --- unknown orders -------------------------------------------------------------------------
@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "create"])
def test_a_command_on_an_unknown_order_answers_404_order_not_found(
    api: APIClient, command: str
) -> None:
    place_order(api)

    with nothing_appended():
        response = _command_requests(str(uuid.uuid4()))[command](api)

    assert_error(response, 404, "order_not_found")


@pytest.mark.parametrize("suffix", ["history", "state"])
def test_reading_an_unknown_order_answers_404(api: APIClient, suffix: str) -> None:
    assert_error(api.get(f"/api/orders/{uuid.uuid4()}/{suffix}"), 404, "order_not_found")


def test_removing_a_product_not_on_the_order_answers_404(api: APIClient) -> None:
    order_id = place_order(api)

    with nothing_appended():
        response = api.delete(f"/api/orders/{order_id}/items/sku-404")

    assert response.status_code == 404
    assert_error(response, 404, "item_not_found")


# --- business rules (409) -------------------------------------------------------------------
def _ship(client: APIClient, order_id: str) -> None:
    assert client.post(f"/api/orders/{order_id}/ship", {}, format="json").status_code == 200


def _cancel(client: APIClient, order_id: str) -> None:
    response = client.post(f"/api/orders/{order_id}/cancel", {"reason": "r"}, format="json")
    assert response.status_code == 200


CLOSE = {"shipped": (_ship, "order_shipped"), "cancelled": (_cancel, "order_cancelled")}


@pytest.mark.parametrize("command", ["add", "remove", "address"])
@pytest.mark.parametrize("closed", CLOSE.keys())
def test_a_shipped_or_cancelled_order_refuses_changes_with_409(
    api: APIClient, command: str, closed: str
) -> None:
    order_id = place_order(api)
    close, code = CLOSE[closed]
    close(api, order_id)

    with nothing_appended():
        response = _command_requests(order_id)[command](api)

    assert_error(response, 409, code)


def test_shipping_a_cancelled_order_answers_409_order_cancelled(api: APIClient) -> None:
    order_id = place_order(api)
    _cancel(api, order_id)

    with nothing_appended():
        response = api.post(f"/api/orders/{order_id}/ship", {}, format="json")

    assert_error(response, 409, "order_cancelled")


def test_shipping_a_shipped_order_answers_409_order_shipped(api: APIClient) -> None:
    order_id = place_order(api)
    _ship(api, order_id)

    with nothing_appended():
        response = api.post(f"/api/orders/{order_id}/ship", {}, format="json")

    assert_error(response, 409, "order_shipped")


@pytest.mark.parametrize("command", ["cancel", "delete"])
def test_cancelling_a_shipped_order_answers_409_order_shipped(api: APIClient, command: str) -> None:
    order_id = place_order(api)
    _ship(api, order_id)

    with nothing_appended():
        response = _command_requests(order_id)[command](api)

    assert_error(response, 409, "order_shipped")


@pytest.mark.parametrize("command", ["cancel", "delete"])
def test_cancelling_a_cancelled_order_answers_409_order_cancelled(
    api: APIClient, command: str
) -> None:
    order_id = place_order(api)
    _cancel(api, order_id)

    with nothing_appended():
        response = _command_requests(order_id)[command](api)

    assert_error(response, 409, "order_cancelled")


def test_adding_a_501st_distinct_product_answers_409(api: APIClient) -> None:
    order_id = place_order(api, items=[item_body(f"sku-{n}") for n in range(500)])

    with nothing_appended():
        response = api.post(f"/api/orders/{order_id}/items", item_body("sku-new"), format="json")

    assert_error(response, 409, "too_many_products")


def test_adding_beyond_10000_units_of_a_product_answers_409(api: APIClient) -> None:
    order_id = place_order(api, items=[item_body("sku-1", 9_999)])

    with nothing_appended():
        response = api.post(f"/api/orders/{order_id}/items", item_body("sku-1", 2), format="json")

    assert_error(response, 409, "quantity_limit_exceeded")


# --- optimistic concurrency (412) -----------------------------------------------------------
@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "create"])
def test_a_stale_if_match_answers_412_with_expected_and_actual(
    api: APIClient, command: str
) -> None:
    order_id = place_order(api)
    api.post(f"/api/orders/{order_id}/items", item_body("sku-3"), format="json")

    with nothing_appended():
        response = _command_requests(order_id)[command](api, HTTP_IF_MATCH='"1"')

    error = assert_error(response, 412, "version_mismatch")
    assert error["details"] == {"expected": 1, "actual": 2}


@pytest.mark.parametrize("if_match", ['"1"', "1", 'W/"1"', "*"])
def test_a_current_if_match_lets_the_command_through(api: APIClient, if_match: str) -> None:
    order_id = place_order(api)

    response = api.post(
        f"/api/orders/{order_id}/items", item_body("sku-3"), format="json", HTTP_IF_MATCH=if_match
    )

    assert_result(response, status=200, order_id=order_id, version=2)


def test_the_etag_of_a_command_is_the_if_match_of_the_next(api: APIClient) -> None:
    created = api.post("/api/orders", create_body(), format="json")
    order_id = created.json()["order_id"]

    added = api.post(
        f"/api/orders/{order_id}/items",
        item_body("sku-3"),
        format="json",
        HTTP_IF_MATCH=created["ETag"],
    )
    shipped = api.post(
        f"/api/orders/{order_id}/ship", {}, format="json", HTTP_IF_MATCH=added["ETag"]
    )

    assert (added.status_code, shipped.status_code) == (200, 200)
    assert shipped["ETag"] == '"3"'


# --- idempotency ----------------------------------------------------------------------------
def test_repeating_a_create_with_the_same_key_replays_the_first_answer(api: APIClient) -> None:
    first = api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    events = Event.objects.count()

    again = api.post("/api/orders/", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Location"] == first["Location"]
    assert again["ETag"] == first["ETag"]
    assert Event.objects.count() == events
    assert len(history(api, first.json()["order_id"])) == 1


def test_repeating_a_command_with_the_same_key_appends_nothing(api: APIClient) -> None:
    order_id = place_order(api)
    url = f"/api/orders/{order_id}/items"
    first = api.post(url, item_body("sku-3", 2), format="json", HTTP_IDEMPOTENCY_KEY="add-1")

    with nothing_appended():
        again = api.post(url, item_body("sku-3", 2), format="json", HTTP_IDEMPOTENCY_KEY="add-1")

    assert (again.status_code, again.json()) == (200, first.json())
    assert len(history(api, order_id)) == 2
    assert [i["quantity"] for i in state(api, order_id)["items"]][-1] == 2


def test_repeating_a_cancel_with_the_same_key_replays_200_not_409(api: APIClient) -> None:
    order_id = place_order(api)
    url = f"/api/orders/{order_id}/cancel"
    first = api.post(url, {"reason": "r"}, format="json", HTTP_IDEMPOTENCY_KEY="cancel-1")

    with nothing_appended():
        again = api.post(url, {"reason": "r"}, format="json", HTTP_IDEMPOTENCY_KEY="cancel-1")
    without_key = api.post(url, {"reason": "r"}, format="json")

    assert (again.status_code, again.json()) == (200, first.json())
    assert_error(without_key, 409, "order_cancelled")
    assert len(history(api, order_id)) == 2


def test_repeating_a_delete_cancel_with_the_same_key_replays_200(api: APIClient) -> None:
    order_id = place_order(api)
    url = f"/api/orders/{order_id}?reason=r"
    first = api.delete(url, HTTP_IDEMPOTENCY_KEY="del-1")

    with nothing_appended():
        again = api.delete(url, HTTP_IDEMPOTENCY_KEY="del-1")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()


def test_reusing_a_key_with_a_different_body_answers_422(api: APIClient) -> None:
    api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    with nothing_appended():
        response = api.post(
            "/api/orders",
            create_body(customer_id="cust-2"),
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-2",
        )

    assert_error(response, 422, "idempotency_key_reused")


def test_reusing_a_key_on_another_order_answers_422(api: APIClient) -> None:
    first, second = place_order(api), place_order(api)
    api.post(f"/api/orders/{first}/ship", {}, format="json", HTTP_IDEMPOTENCY_KEY="ship")

    with nothing_appended():
        response = api.post(
            f"/api/orders/{second}/ship", {}, format="json", HTTP_IDEMPOTENCY_KEY="ship"
        )

    assert_error(response, 422, "idempotency_key_reused")


def test_a_failed_command_does_not_use_up_its_idempotency_key(api: APIClient) -> None:
    order_id = place_order(api)
    _ship(api, order_id)
    url = f"/api/orders/{order_id}/cancel"

    with nothing_appended():
        refused = api.post(url, {"reason": "r"}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
        again = api.post(url, {"reason": "r"}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")

    assert_error(refused, 409, "order_shipped")
    assert_error(again, 409, "order_shipped")


def test_idempotency_keys_are_kept_for_at_least_24_hours(api: APIClient) -> None:
    first = api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="day")
    IdempotencyRecord.objects.filter(key="day").update(
        created_at=django_timezone.now() - timedelta(hours=24, minutes=-1)
    )

    assert expire_idempotency_keys() == 0
    again = api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="day")
    assert again.json() == first.json()


def test_expired_idempotency_keys_are_deleted(api: APIClient) -> None:
    api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=django_timezone.now() - timedelta(days=3)
    )

    assert expire_idempotency_keys() == 1
    assert not IdempotencyRecord.objects.filter(key="old").exists()


def test_the_same_key_from_another_user_is_a_separate_request(
    api: APIClient, admin_api: APIClient
) -> None:
    first = api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    other = admin_api.post("/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    assert (first.status_code, other.status_code) == (201, 201)
    assert first.json()["order_id"] != other.json()["order_id"]


# --- history --------------------------------------------------------------------------------
def test_history_lists_the_events_in_order_with_their_metadata(api: APIClient, clerk: User) -> None:
    order_id = place_order(api)
    api.post(
        f"/api/orders/{order_id}/cancel",
        {"reason": "r"},
        format="json",
        HTTP_X_CORRELATION_ID="corr-42",
    )

    events = history(api, order_id)

    assert [set(e) for e in events] == [HISTORY_KEYS, HISTORY_KEYS]
    assert [e["version"] for e in events] == [1, 2]
    assert [e["event_type"] for e in events] == ["OrderCreated", "OrderCancelled"]
    assert [e["schema_version"] for e in events] == [1, 1]
    stored = list(Event.objects.filter(stream_id=f"Order-{order_id}").order_by("version"))
    assert [e["position"] for e in events] == [s.global_position for s in stored]
    assert events[0]["data"]["order_id"] == order_id
    assert events[0]["data"]["items"][0] == {
        "product_id": "sku-1",
        "quantity": 2,
        "unit_price": "10.00",
    }
    assert events[1]["data"] == {"order_id": order_id, "reason": "r"}
    metadata = events[1]["metadata"]
    assert metadata["actor"] == clerk.username
    assert metadata["correlation_id"] == "corr-42"
    assert metadata["command_type"] == "CancelOrder"
    for event in events:
        recorded_at = parse_datetime(event["recorded_at"])
        assert recorded_at is not None
        assert recorded_at.utcoffset() is not None


def test_history_has_one_entry_per_successful_command(api: APIClient) -> None:
    order_id = place_order(api)
    for n in range(3):
        api.post(f"/api/orders/{order_id}/items", item_body(f"sku-x{n}"), format="json")
    api.post(f"/api/orders/{order_id}/items", item_body(quantity=0), format="json")

    assert len(history(api, order_id)) == 4


# --- temporal state -------------------------------------------------------------------------
def _lifecycle(api: APIClient) -> str:
    order_id = place_order(api)
    api.post(f"/api/orders/{order_id}/items", item_body("sku-3", 1, "4.50"), format="json")
    api.post(f"/api/orders/{order_id}/cancel", {"reason": "oops"}, format="json")
    return order_id


def test_state_at_a_version_is_the_order_as_it_stood_then(api: APIClient) -> None:
    order_id = _lifecycle(api)

    first = state(api, order_id, version=1)
    second = state(api, order_id, version=2)
    latest = state(api, order_id)

    assert (first["version"], first["status"], first["total_amount"]) == (1, "pending", "25.50")
    assert (second["version"], second["status"], second["total_amount"]) == (
        2,
        "pending",
        "30.00",
    )
    assert second["item_count"] == 4
    assert (latest["version"], latest["status"], latest["cancel_reason"]) == (
        3,
        "cancelled",
        "oops",
    )
    assert first["cancel_reason"] is None


def test_state_answers_with_the_order_view_fields_and_an_etag(api: APIClient) -> None:
    order_id = _lifecycle(api)

    response = api.get(f"/api/orders/{order_id}/state", {"version": 2})

    assert response["ETag"] == '"2"'
    view = response.json()
    assert {
        "order_id",
        "customer_id",
        "status",
        "currency",
        "total_amount",
        "item_count",
        "items",
        "shipping_address",
        "cancel_reason",
        "version",
    } <= set(view)
    assert view["order_id"] == order_id


def test_state_at_a_time_is_the_order_as_it_stood_then(api: APIClient) -> None:
    order_id = _lifecycle(api)
    events = history(api, order_id)
    times = [parse_datetime(e["recorded_at"]) for e in events]

    for moment in times:
        assert moment is not None
        expected_version = sum(1 for t in times if t is not None and t <= moment)
        answer = state(api, order_id, at=moment.isoformat())
        assert answer["version"] == expected_version


def test_state_at_a_time_with_a_non_utc_offset_is_understood(api: APIClient) -> None:
    order_id = _lifecycle(api)
    last = parse_datetime(history(api, order_id)[-1]["recorded_at"])
    assert last is not None
    in_lisbon_summer = last.astimezone(timezone(timedelta(hours=1))).isoformat()

    assert state(api, order_id, at=in_lisbon_summer)["version"] == 3


def test_state_before_the_order_existed_answers_404(api: APIClient) -> None:
    order_id = place_order(api)

    response = api.get(f"/api/orders/{order_id}/state", {"at": "2000-01-01T00:00:00+00:00"})

    assert_error(response, 404, "order_not_found")


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"],
    ids=["before year 1 in UTC", "after year 9999 in UTC"],
)
def test_state_at_an_extreme_time_never_answers_500(api: APIClient, at: str) -> None:
    order_id = place_order(api)

    response = api.get(f"/api/orders/{order_id}/state", {"at": at})

    # Either answer is fine (the order as of then, not found then, or "out of range").
    assert response.status_code in {200, 400, 404}, response.content


STATE_QUERIES = {
    "version=0": {"version": "0"},
    "version=-1": {"version": "-1"},
    "version=abc": {"version": "abc"},
    "version=1.5": {"version": "1.5"},
    "version beyond the last": {"version": "99"},
    "at without offset": {"at": "2030-01-01T00:00:00"},
    "at not a time": {"at": "yesterday"},
    "at a date only": {"at": "2030-01-01"},
    "at and version": {"version": "1", "at": "2030-01-01T00:00:00+00:00"},
    "unknown parameter": {"when": "now"},
}


@pytest.mark.parametrize("params", STATE_QUERIES.values(), ids=STATE_QUERIES.keys())
def test_a_bad_state_query_answers_400(api: APIClient, params: dict[str, str]) -> None:
    order_id = place_order(api)

    assert_error(api.get(f"/api/orders/{order_id}/state", params), 400, "validation_error")


@pytest.mark.parametrize("suffix", ["history", "state"])
def test_log_reads_accept_min_position_and_answer_fresh(api: APIClient, suffix: str) -> None:
    created = api.post("/api/orders", create_body(), format="json").json()

    response = api.get(
        f"/api/orders/{created['order_id']}/{suffix}",
        {"min_position": created["position"], "consistency_timeout": "1"},
    )

    assert response.status_code == 200
    assert response["X-Consistency"] == "fresh"


# --- the database going away ----------------------------------------------------------------
def _outage(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("could not connect to server: Connection refused")


def test_a_database_outage_during_a_command_answers_503(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orders.api.commands.execute_command", _outage)

    with nothing_appended():
        response = api.post("/api/orders", create_body(), format="json")

    assert_error(response, 503, "service_unavailable")


def test_a_database_outage_while_loading_an_order_answers_503(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = place_order(api)
    monkeypatch.setattr("eventstore.store.read_stream", _outage)

    with nothing_appended():
        add = api.post(f"/api/orders/{order_id}/items", item_body("sku-3"), format="json")
        read = api.get(f"/api/orders/{order_id}/history")
        temporal = api.get(f"/api/orders/{order_id}/state")

    for response in (add, read, temporal):
        assert_error(response, 503, "service_unavailable")


def test_a_database_outage_while_appending_answers_503_and_keeps_no_key(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventstore.store.append_to_stream", _outage)

    with nothing_appended():
        response = api.post(
            "/api/orders", create_body(), format="json", HTTP_IDEMPOTENCY_KEY="outage"
        )

    assert_error(response, 503, "service_unavailable")


@contextmanager
def read_only_database() -> Iterator[None]:
    """Every transaction of this test's session is read-only, as on a standby after a
    failover: writes fail with SQLSTATE 25006 (the server itself is not reconfigured)."""
    with connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = off")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the session's transactions, not the test's
def test_a_read_only_database_answers_503_to_every_command_and_reads_go_on(
    api: APIClient,
) -> None:
    order_id = place_order(api)
    path = f"/api/orders/{order_id}"
    commands: list[tuple[str, str, Any]] = [
        ("post", "/api/orders", create_body()),
        ("post", f"{path}/items", item_body("sku-9")),
        ("delete", f"{path}/items/sku-1", None),
        ("put", f"{path}/shipping-address", address_body()),
        ("post", f"{path}/ship", {"carrier": "UPS"}),
        ("post", f"{path}/cancel", {"reason": "changed my mind"}),
        ("delete", f"{path}?reason=changed+my+mind", None),
    ]

    with read_only_database(), nothing_appended():
        for n, (method, target, body) in enumerate(commands):
            for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": f"read-only-{n}"}):
                response = getattr(api, method)(target, body, format="json", **headers)
                assert_error(response, 503, "service_unavailable")
        assert len(history(api, order_id)) == 1  # reads need no write: they go on

    assert len(history(api, order_id)) == 1
    added = api.post(f"{path}/items", item_body("sku-9"), format="json")
    assert added.status_code == 200, added.content  # writable again: commands go through


# --- schema and docs ------------------------------------------------------------------------
def test_the_openapi_schema_lists_every_command_path(api: APIClient) -> None:
    response = api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = {p.rstrip("/"): ops for p, ops in json.loads(response.content)["paths"].items()}
    assert "post" in paths["/api/orders"]
    assert "post" in paths["/api/orders/{order_id}/items"]
    assert "delete" in paths["/api/orders/{order_id}/items/{product_id}"]
    assert "put" in paths["/api/orders/{order_id}/shipping-address"]
    assert "post" in paths["/api/orders/{order_id}/ship"]
    assert "post" in paths["/api/orders/{order_id}/cancel"]
    assert "delete" in paths["/api/orders/{order_id}"]
    assert "get" in paths["/api/orders/{order_id}/history"]
    assert "get" in paths["/api/orders/{order_id}/state"]


def test_the_schema_documents_the_command_error_statuses(api: APIClient) -> None:
    schema = json.loads(api.get("/api/schema/", {"format": "json"}).content)
    paths = {p.rstrip("/"): ops for p, ops in schema["paths"].items()}

    responses = paths["/api/orders/{order_id}/items"]["post"]["responses"]

    assert {"200", "400", "401", "403", "404", "409", "412", "422", "503"} <= set(responses)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs"])
def test_the_api_docs_page_answers_200(api: APIClient, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_api_docs_load_their_assets_locally(api: APIClient) -> None:
    content = api.get("/api/docs/").content.decode()

    assert "cdn.jsdelivr" not in content
    assert "unpkg.com" not in content


# --- negative zero --------------------------------------------------------------------------
def test_a_negative_zero_price_is_stored_as_zero(api: APIClient) -> None:
    order_id = place_order(api, items=[item_body("sku-1", 1, "-0.00")])

    assert state(api, order_id)["items"][0]["unit_price"] == "0.00"
    assert history(api, order_id)[0]["data"]["items"][0]["unit_price"] == "0.00"
