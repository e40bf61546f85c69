"""The order views through the query API: one order, a customer's orders, search."""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework.test import APIClient

from eventstore.models import Event
from tests.projections import builders as b
from tests.projections.read_models.shop import (
    ORDER_VIEW_KEYS,
    PAGE_KEYS,
    Shop,
    address_body,
    at,
    ok,
    order_ids,
    parsed,
    reads,
    writes,
)


# --- GET /api/orders/{id} -------------------------------------------------------------------
@reads
def test_an_order_view_has_exactly_the_contract_shape_with_money_as_strings(
    api: APIClient, shared_shop: Shop
) -> None:
    response = api.get(f"/api/orders/{shared_shop.o4}")

    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    body = response.json()
    assert set(body) == ORDER_VIEW_KEYS
    assert parsed(body) == {
        "order_id": shared_shop.o4,
        "customer_id": "carol.smith",
        "status": "pending",
        "currency": "USD",
        "total_amount": "18.00",
        "item_count": 5,
        "items": [
            {"product_id": "widget", "quantity": 1, "unit_price": "10.00", "line_total": "10.00"},
            {"product_id": "doohickey", "quantity": 3, "unit_price": "2.50", "line_total": "7.50"},
            {"product_id": "sprocket", "quantity": 1, "unit_price": "0.50", "line_total": "0.50"},
        ],
        "shipping_address": address_body("Springfield"),
        "created_at": at(3),
        "updated_at": at(7),
        "shipped_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "version": 2,
    }


@reads
def test_shipped_and_cancelled_orders_show_when_and_why(api: APIClient, shared_shop: Shop) -> None:
    shipped = parsed(ok(api, f"/api/orders/{shared_shop.o2}/"))
    cancelled = parsed(ok(api, f"/api/orders/{shared_shop.o3}"))

    assert (shipped["status"], shipped["shipped_at"], shipped["updated_at"]) == (
        "shipped",
        at(9),
        at(9),
    )
    assert (shipped["cancelled_at"], shipped["cancel_reason"], shipped["version"]) == (
        None,
        None,
        2,
    )
    assert (cancelled["status"], cancelled["cancelled_at"], cancelled["cancel_reason"]) == (
        "cancelled",
        at(6),
        "customer changed mind",
    )
    assert cancelled["shipped_at"] is None
    assert (cancelled["total_amount"], cancelled["item_count"]) == ("5.00", 4)


@reads
def test_an_order_view_keeps_the_latest_address_and_timestamps_from_recorded_at(
    api: APIClient, shared_shop: Shop
) -> None:
    view = parsed(ok(api, f"/api/orders/{shared_shop.o5}"))
    recorded = list(
        Event.objects.filter(stream_id=f"Order-{shared_shop.o5}")
        .order_by("version")
        .values_list("recorded_at", flat=True)
    )

    assert view["shipping_address"] == address_body("Capital City")
    assert (view["created_at"], view["updated_at"]) == (recorded[0], recorded[-1])
    assert (view["created_at"], view["updated_at"]) == (at(4), at(8))


@writes
def test_every_order_view_equals_the_order_rebuilt_from_its_events(
    api: APIClient, shop: Shop
) -> None:
    removed = b.place_order(
        customer_id="dave", items=[("a", 1, "1.00"), ("b", 2, "2.00"), ("c", 3, "3.00")]
    )["order_id"]
    b.remove_item(removed, "b")
    b.add_item(removed, "b", 1, "4.00")
    b.add_item(removed, "a", 2, "1.50")
    b.catch_up_until_applied()

    for order_id in [*shop.ids("o1", "o2", "o3", "o4", "o5"), removed]:
        view = ok(api, f"/api/orders/{order_id}")
        from_events = ok(api, f"/api/orders/{order_id}/state")
        assert parsed(view) == parsed(from_events), order_id
    view = ok(api, f"/api/orders/{removed}")
    assert [i["product_id"] for i in view["items"]] == ["a", "c", "b"]
    assert (view["total_amount"], view["item_count"]) == ("17.50", 7)


@reads
def test_an_unknown_order_is_a_404_order_not_found(api: APIClient) -> None:
    missing = uuid.uuid4()
    response = api.get(f"/api/orders/{missing}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"
    assert set(response.json()["error"]) == {"code", "message", "details"}


# --- GET /api/customers/{id}/orders ---------------------------------------------------------
@reads
def test_a_customers_orders_come_as_a_page_newest_first(api: APIClient, shared_shop: Shop) -> None:
    page = ok(api, "/api/customers/alice/orders")

    assert set(page) == PAGE_KEYS
    assert order_ids(page) == shared_shop.ids("o3", "o1")
    assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (2, 1, 20, 1)
    assert page["items"][1] == ok(api, f"/api/orders/{shared_shop.o1}")


@reads
def test_a_customers_orders_filter_by_status_and_page(api: APIClient, shared_shop: Shop) -> None:
    assert order_ids(ok(api, "/api/customers/alice/orders/", status="cancelled")) == [
        shared_shop.o3
    ]
    assert order_ids(ok(api, "/api/customers/alice/orders", status="pending")) == [shared_shop.o1]
    assert order_ids(ok(api, "/api/customers/alice/orders", status="shipped")) == []
    second = ok(api, "/api/customers/bob/orders", page=2, page_size=1)
    assert order_ids(second) == [shared_shop.o2]
    assert {k: v for k, v in second.items() if k != "items"} == {
        "total": 2,
        "page": 2,
        "page_size": 1,
        "total_pages": 2,
    }


@reads
def test_a_customer_without_orders_gets_an_empty_page(api: APIClient, shared_shop: Shop) -> None:
    assert ok(api, "/api/customers/nobody/orders") == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
        "total_pages": 0,
    }


# --- GET /api/orders/search -----------------------------------------------------------------
SEARCHES = {
    "alice": ["o3", "o1"],  # customer id
    "carol.smith": ["o4"],
    "widget": ["o4", "o1"],  # product id
    "sprocket": ["o5", "o4"],  # a product added later
    "Springfield": ["o4", "o1"],  # city
    "springfield": ["o4", "o1"],
    "Capital City": ["o5"],  # the changed address ...
    "Haverbrook": [],  # ... replaces the old one
    "mind": ["o3"],  # cancel reason
    "changed mind": ["o3"],
    "nothing-like-this": [],
}


@reads
def test_search_q_matches_customer_product_city_and_cancel_reason(
    api: APIClient, shared_shop: Shop
) -> None:
    found = {q: order_ids(ok(api, "/api/orders/search", q=q)) for q in SEARCHES}

    assert found == {q: shared_shop.ids(*labels) for q, labels in SEARCHES.items()}


@reads
def test_search_filters_by_status_customer_totals_and_creation_time(
    api: APIClient, shared_shop: Shop
) -> None:
    def search(**params: Any) -> list[str]:
        return order_ids(ok(api, "/api/orders/search/", **params))

    assert search() == shared_shop.ids("o5", "o4", "o3", "o2", "o1")
    assert search(q="") == shared_shop.ids("o5", "o4", "o3", "o2", "o1")
    assert search(status="pending") == shared_shop.ids("o5", "o4", "o1")
    assert search(status="shipped") == shared_shop.ids("o2")
    assert search(status="cancelled") == shared_shop.ids("o3")
    assert search(customer_id="bob") == shared_shop.ids("o5", "o2")
    assert search(min_total="5.00") == shared_shop.ids("o4", "o3", "o2", "o1")
    assert search(max_total="18") == shared_shop.ids("o5", "o4", "o3")
    assert search(min_total="5", max_total="18.00") == shared_shop.ids("o4", "o3")
    assert search(created_after=at(1.5).isoformat()) == shared_shop.ids("o5", "o4", "o3")
    assert search(created_before=at(1.5).isoformat()) == shared_shop.ids("o2", "o1")
    assert search(created_after=at(0.5).isoformat(), created_before=at(3.5).isoformat()) == (
        shared_shop.ids("o4", "o3", "o2")
    )
    assert search(q="widget", status="pending", customer_id="alice") == shared_shop.ids("o1")


SORTED = {
    "created_at": ["o1", "o2", "o3", "o4", "o5"],  # +0 .. +4
    "total_amount": ["o5", "o3", "o4", "o1", "o2"],  # 2.50, 5.00, 18.00, 20.00, 99.99
    "item_count": ["o2", "o1", "o3", "o4", "o5"],  # 1, 2, 4, 5, 10
    "updated_at": ["o1", "o3", "o4", "o5", "o2"],  # +0, +6, +7, +8, +9
}


@reads
def test_search_sorts_by_each_field_in_each_direction(api: APIClient, shared_shop: Shop) -> None:
    for sort_by, ascending in SORTED.items():
        asc = ok(api, "/api/orders/search", sort_by=sort_by, sort_order="asc")
        desc = ok(api, "/api/orders/search", sort_by=sort_by, sort_order="desc")
        default_order = ok(api, "/api/orders/search", sort_by=sort_by)
        assert order_ids(asc) == shared_shop.ids(*ascending), sort_by
        assert order_ids(desc) == shared_shop.ids(*reversed(ascending)), sort_by
        assert order_ids(default_order) == order_ids(desc), sort_by
    default = ok(api, "/api/orders/search", sort_order="asc")
    assert order_ids(default) == shared_shop.ids(*SORTED["created_at"])


@reads
def test_search_pages_through_the_results(api: APIClient, shared_shop: Shop) -> None:
    pages = [ok(api, "/api/orders/search", page=n, page_size=2) for n in (1, 2, 3)]

    assert [order_ids(p) for p in pages] == [
        shared_shop.ids("o5", "o4"),
        shared_shop.ids("o3", "o2"),
        shared_shop.ids("o1"),
    ]
    assert [(p["total"], p["page"], p["page_size"], p["total_pages"]) for p in pages] == [
        (5, 1, 2, 3),
        (5, 2, 2, 3),
        (5, 3, 2, 3),
    ]
    assert all(set(p) == PAGE_KEYS for p in pages)
    assert pages[0]["items"][0] == ok(api, f"/api/orders/{shared_shop.o5}")
