"""Smaller breaks of the contract found on the production shape (issue 16): JSON in and out
whatever the client asks for, chunked bodies, integers and dates as ASCII text only, required
text that is more than whitespace, no unknown query parameters on commands, and a
Content-Security-Policy on the admin and docs pages."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common.http.csp import POLICY
from config.wsgi import application
from eventstore import store
from orders.streams import stream_id_for
from tests.orders.builders import address_body, create_body

pytestmark = pytest.mark.django_db

FULL_WIDTH_ONE = "\uff11"  # FULLWIDTH DIGIT ONE
ARABIC_INDIC_THREE = "\u0663"  # ARABIC-INDIC DIGIT THREE


def place_order(api: APIClient) -> dict[str, Any]:
    response = api.post("/api/orders", create_body(), format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error: dict[str, Any] = response.json()["error"]
    return error


def events_of(order_id: str) -> int:
    return len(store.read_stream(stream_id_for(uuid.UUID(order_id))))


# --- JSON out, whatever the client asks for -------------------------------------------------------
@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml", "image/png"])
def test_an_accept_the_api_cannot_meet_still_gets_json_not_the_browsable_page(
    api: APIClient, accept: str
) -> None:
    order = place_order(api)

    read = api.get(f"/api/orders/{order['order_id']}/state", HTTP_ACCEPT=accept)
    created = api.post("/api/orders", create_body(), format="json", HTTP_ACCEPT=accept)

    assert (read.status_code, created.status_code) == (200, 201)
    for response in (read, created):
        assert response["Content-Type"] == "application/json"
        assert b"<html" not in response.content.lower()


@pytest.mark.parametrize("wanted", ["api", "html", "yaml", "xml", ""])
def test_a_format_other_than_json_is_a_400_naming_it(api: APIClient, wanted: str) -> None:
    order = place_order(api)

    for response in (
        api.get(f"/api/orders/{order['order_id']}", {"format": wanted}),
        api.get("/api/projections", {"format": wanted}),
        api.post(f"/api/orders?format={wanted}", create_body(), format="json"),
    ):
        error = error_of(response, 400)
        assert (error["code"], list(error["details"])) == ("validation_error", ["format"])
    assert events_of(order["order_id"]) == 1


def test_format_json_is_taken_and_the_schema_lists_it_with_that_one_value(
    api: APIClient,
) -> None:
    order = place_order(api)

    assert api.get(f"/api/orders/{order['order_id']}/state", {"format": "json"}).status_code == 200
    schema = json.loads(APIClient().get("/api/schema/", {"format": "json"}).content)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            [parameter] = [p for p in operation["parameters"] if p["name"] == "format"]
            assert parameter["schema"] == {"type": "string", "enum": ["json"]}, (path, method)


def test_the_schema_still_comes_as_json_or_yaml_and_the_docs_as_a_page() -> None:
    client = APIClient()

    as_json = client.get("/api/schema/", {"format": "json"})
    as_yaml = client.get("/api/schema/", {"format": "yaml"})
    docs = client.get("/api/docs/")

    assert json.loads(as_json.content)["openapi"].startswith("3.")
    assert as_yaml.content.startswith(b"openapi: 3.")
    assert (docs.status_code, docs["Content-Type"]) == (200, "text/html; charset=utf-8")


# --- chunked request bodies -----------------------------------------------------------------------
def chunked_post(path: str, body: bytes, token: str) -> tuple[str, bytes]:
    """POST ``body`` to the WSGI application as gunicorn hands on a chunked request: no
    Content-Length, the body decoded and ended by the server (wsgi.input_terminated)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
    }
    setup_testing_defaults(environ)
    environ.pop("CONTENT_LENGTH", None)
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
        status.append(line)
        return lambda data: None

    answer = b"".join(application(environ, start_response))
    return status[0], answer


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_read_and_the_size_limit_still_holds(clerk: User, settings: Any) -> None:
    token = Token.objects.create(user=clerk).key

    status, answer = chunked_post("/api/orders", json.dumps(create_body()).encode(), token)

    assert status.startswith("201"), answer
    assert events_of(json.loads(answer)["order_id"]) == 1
    too_large = json.dumps(create_body(customer_id="x" * settings.API_MAX_BODY_BYTES)).encode()
    status, answer = chunked_post("/api/orders", too_large, token)
    assert status.startswith("400"), answer
    assert "larger than" in json.loads(answer)["error"]["message"]


# --- integers, numbers and dates in query parameters: ASCII text only ----------------------------
NOT_INTEGERS = ["1.0", FULL_WIDTH_ONE, ARABIC_INDIC_THREE, " 1", "1 ", "1_0", "+1", "1e0", ""]


@pytest.mark.parametrize("value", NOT_INTEGERS)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/orders/{order_id}/state", "version"),
        ("/api/orders/search", "page"),
        ("/api/orders/search", "page_size"),
        ("/api/customers/cust-1/orders", "page"),
        ("/api/orders/{order_id}", "min_position"),
        ("/api/projections", "min_position"),
    ],
)
def test_an_integer_parameter_that_is_not_ascii_digits_is_a_400_naming_it(
    api: APIClient, path: str, name: str, value: str
) -> None:
    order = place_order(api)

    error = error_of(api.get(path.format(**order), {name: value}), 400)

    assert (error["code"], list(error["details"])) == ("validation_error", [name])


@pytest.mark.parametrize("value", [FULL_WIDTH_ONE, "1_0", " 1", "+1", "1.0", "-1"])
def test_an_x_min_position_header_that_is_not_ascii_digits_is_a_400(
    api: APIClient, value: str
) -> None:
    order = place_order(api)

    error = error_of(api.get(f"/api/orders/{order['order_id']}", HTTP_X_MIN_POSITION=value), 400)

    assert list(error["details"]) == ["min_position"]


@pytest.mark.parametrize(
    "value",
    [FULL_WIDTH_ONE, ARABIC_INDIC_THREE, "1_0", " 1", "+1", ".5", "5.", "inf", "0x1", "1e999"],
)
def test_a_consistency_timeout_that_is_not_a_json_number_is_a_400(
    api: APIClient, value: str
) -> None:
    order = place_order(api)
    params = {"min_position": str(order["position"]), "consistency_timeout": value}

    error = error_of(api.get(f"/api/orders/{order['order_id']}", params), 400)

    assert list(error["details"]) == ["consistency_timeout"]


@pytest.mark.parametrize("value", ["0", "0.5", "1e-05", "30", "2.5E1"])
def test_a_consistency_timeout_as_json_writes_a_number_is_taken(api: APIClient, value: str) -> None:
    order = place_order(api)
    params = {"min_position": str(order["position"]), "consistency_timeout": value}

    assert api.get(f"/api/orders/{order['order_id']}/history", params).status_code == 200


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/api/reports/daily-sales", "from", f"{FULL_WIDTH_ONE * 4}-03-01"),
        ("/api/reports/daily-sales", "to", "2024-3-1"),
        ("/api/orders/{order_id}/state", "at", f"2024-03-0{FULL_WIDTH_ONE}T10:00:00+00:00"),
        ("/api/orders/search", "created_after", f"{ARABIC_INDIC_THREE}024-03-01T10:00:00Z"),
    ],
)
def test_a_date_or_timestamp_with_digits_other_than_ascii_is_a_400_naming_it(
    api: APIClient, path: str, name: str, value: str
) -> None:
    order = place_order(api)

    error = error_of(api.get(path.format(**order), {name: value}), 400)

    assert list(error["details"]) == [name]


# --- required text is more than whitespace ------------------------------------------------------
BLANKS = ["   ", "\t", "\n \r", "\u3000", "\u00a0"]  # spaces, tab, newlines, ideographic, NBSP


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("field", ["line1", "city", "postal_code", "country"])
def test_a_required_address_field_of_whitespace_alone_is_a_400_on_create_and_change(
    api: APIClient, field: str, blank: str
) -> None:
    order = place_order(api)
    address = address_body(**{field: blank})

    created = api.post("/api/orders", create_body(shipping_address=address), format="json")
    changed = api.put(f"/api/orders/{order['order_id']}/shipping-address", address, format="json")

    assert error_of(created, 400)["details"] == {"shipping_address": {field: [BLANK_MESSAGE]}}
    assert error_of(changed, 400)["details"] == {field: [BLANK_MESSAGE]}
    assert events_of(order["order_id"]) == 1


BLANK_MESSAGE = "This field may not be blank."


@pytest.mark.parametrize("blank", BLANKS)
def test_a_cancel_reason_of_whitespace_alone_is_a_400_in_the_body_or_the_query(
    api: APIClient, blank: str
) -> None:
    order = place_order(api)

    posted = api.post(f"/api/orders/{order['order_id']}/cancel", {"reason": blank}, format="json")
    deleted = api.delete(f"/api/orders/{order['order_id']}?reason={blank}")

    for response in (posted, deleted):
        assert error_of(response, 400)["details"] == {"reason": [BLANK_MESSAGE]}
    assert events_of(order["order_id"]) == 1


def test_text_with_spaces_around_it_is_kept_as_given(api: APIClient) -> None:
    address = address_body(line1=" 1 Main St ", line2="   ")
    order_id = api.post("/api/orders", create_body(shipping_address=address), format="json").json()[
        "order_id"
    ]

    state = api.get(f"/api/orders/{order_id}/state").json()

    assert (state["shipping_address"]["line1"], state["shipping_address"]["line2"]) == (
        " 1 Main St ",
        "   ",
    )


# --- commands take no query parameters they do not know ------------------------------------------
def test_a_delete_with_an_unknown_query_parameter_is_a_400_and_cancels_nothing(
    api: APIClient,
) -> None:
    order = place_order(api)

    response = api.delete(f"/api/orders/{order['order_id']}?reason=gone&force=1&dry_run=")

    error = error_of(response, 400)
    assert (error["code"], error["details"]) == (
        "validation_error",
        {"dry_run": ["Unknown parameter."], "force": ["Unknown parameter."]},
    )
    assert events_of(order["order_id"]) == 1
    assert api.delete(f"/api/orders/{order['order_id']}?reason=gone").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/orders", create_body()),
        ("post", "/api/orders/{order_id}/ship", {}),
        ("post", "/api/orders/{order_id}/cancel", {"reason": "no"}),
        ("put", "/api/orders/{order_id}/shipping-address", address_body()),
        ("delete", "/api/orders/{order_id}/items/sku-1", None),
    ],
)
def test_every_command_refuses_an_unknown_query_parameter(
    api: APIClient, method: str, path: str, body: Any
) -> None:
    order = place_order(api)

    response = getattr(api, method)(f"{path.format(**order)}?verbose=1", body, format="json")

    assert error_of(response, 400)["details"] == {"verbose": ["Unknown parameter."]}
    assert events_of(order["order_id"]) == 1


# --- a Content-Security-Policy on the pages ------------------------------------------------------
@pytest.mark.parametrize("path", ["/admin/", "/admin/projections/orderview/", "/admin/login/"])
def test_admin_pages_carry_a_csp_without_unsafe_inline(
    admin_client: Any, client: Any, path: str
) -> None:
    response = (client if path == "/admin/login/" else admin_client).get(path)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == POLICY
    assert "unsafe-inline" not in POLICY and "unsafe-eval" not in POLICY
    assert "script-src 'self'" in POLICY and "frame-ancestors 'none'" in POLICY


def test_the_api_docs_page_carries_the_csp_and_takes_its_script_and_styles_from_files() -> None:
    client = APIClient()

    page = client.get("/api/docs/")
    script = client.get("/api/docs/", {"script": ""})

    assert page["Content-Security-Policy"] == POLICY
    html = page.content.decode()
    assert "<style" not in html
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert inline == [], inline
    assert 'src="/api/docs/?script="' in html
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
