"""GET /api/orders/{id}/history?from_version=V&limit=N, as the contract says: from V (default 1),
at most N (1..1000, default 1000), a Link rel="next" header when more follow, 400 otherwise."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from tests.projections import builders as b

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def order_of_seven() -> str:
    order_id = str(b.place_order()["order_id"])
    for n in range(5):
        b.add_item(order_id, f"sku-{n}", 1, "1.00")
    b.ship(order_id)
    return order_id


def next_link(response: Any) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<(http://testserver/api/orders/[^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


def versions(response: Any) -> list[int]:
    return [event["version"] for event in response.json()]


def test_without_parameters_every_event_comes_and_no_link(
    api: APIClient, order_of_seven: str
) -> None:
    answer = api.get(f"/api/orders/{order_of_seven}/history")

    assert answer.status_code == 200
    assert versions(answer) == [1, 2, 3, 4, 5, 6, 7]
    assert "Link" not in answer.headers
    assert set(answer.json()[0]) == {
        "position",
        "version",
        "event_type",
        "schema_version",
        "data",
        "metadata",
        "recorded_at",
    }


def test_pages_follow_their_links_to_the_end(api: APIClient, order_of_seven: str) -> None:
    first = api.get(f"/api/orders/{order_of_seven}/history", {"limit": 3})
    link = next_link(first)
    assert link is not None
    assert parse_qs(urlsplit(link).query) == {"from_version": ["4"], "limit": ["3"]}
    second = api.get(link)
    third = api.get(next_link(second) or "")

    assert [versions(first), versions(second), versions(third)] == [[1, 2, 3], [4, 5, 6], [7]]
    assert next_link(third) is None
    assert [e["event_type"] for e in third.json()] == ["OrderShipped"]


def test_a_page_that_ends_with_the_stream_has_no_link(api: APIClient, order_of_seven: str) -> None:
    answer = api.get(f"/api/orders/{order_of_seven}/history", {"from_version": 5, "limit": 3})

    assert versions(answer) == [5, 6, 7]
    assert "Link" not in answer.headers


def test_the_bounds_are_accepted(api: APIClient, order_of_seven: str) -> None:
    path = f"/api/orders/{order_of_seven}/history"
    assert versions(api.get(path, {"limit": 1})) == [1]
    assert versions(api.get(path, {"limit": 1000, "from_version": 7})) == [7]
    beyond = api.get(path, {"from_version": 8})  # the order exists: nothing after its end
    assert (beyond.status_code, beyond.json()) == (200, [])
    assert "Link" not in beyond.headers


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"from_version": "0"}, "from_version"),
        ({"from_version": "-3"}, "from_version"),
        ({"from_version": "x"}, "from_version"),
        ({"from_version": "2147483648"}, "from_version"),
        ({"page": "2"}, "page"),
    ],
)
def test_bad_values_are_a_400_in_the_contract_shape(
    api: APIClient, order_of_seven: str, params: dict[str, str], field: str
) -> None:
    answer = api.get(f"/api/orders/{order_of_seven}/history", params)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]


def test_an_unknown_order_is_a_404_whatever_the_page(api: APIClient) -> None:
    answer = api.get(f"/api/orders/{uuid.uuid4()}/history", {"from_version": 3, "limit": 2})

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "order_not_found"


def test_a_page_from_the_highest_version_there_can_be_is_empty(
    api: APIClient, order_of_seven: str
) -> None:
    answer = api.get(
        f"/api/orders/{order_of_seven}/history", {"from_version": 2**31 - 1, "limit": 1000}
    )

    assert (answer.status_code, answer.json()) == (200, [])
