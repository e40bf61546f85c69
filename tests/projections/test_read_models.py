"""The read models through the query API: shapes, filters, sorting, reports, lag and rebuilds.

On PostgreSQL a projector reads only committed events (below the oldest running transaction),
so events written inside a test's own transaction stay invisible to it. Tests that only read
share one committed shop (built once per module, removed afterwards) and run in an ordinary
test transaction; tests that write are transactional and build their own data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from common.dispatch import NoHandlerError
from eventstore.models import Event
from projections.engine import runner
from projections.engine.generations import active_state, purge_retired, start_rebuild
from projections.engine.rebuild import rebuild
from projections.engine.tasks import catch_up
from projections.models import OrderView, OrderViewItem, ProjectionState, ProjectionStatus
from projections.read_models import queries, selectors
from tests.projections import builders as b
from tests.projections.conftest import Clock

reads = pytest.mark.django_db
writes = pytest.mark.django_db(transaction=True)

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
ORDER_VIEW_KEYS = {
    "order_id",
    "customer_id",
    "status",
    "currency",
    "total_amount",
    "item_count",
    "items",
    "shipping_address",
    "created_at",
    "updated_at",
    "shipped_at",
    "cancelled_at",
    "cancel_reason",
    "version",
}
TIMESTAMP_KEYS = ("created_at", "updated_at", "shipped_at", "cancelled_at", "last_order_at")
PAGE_KEYS = {"items", "total", "page", "page_size", "total_pages"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def when(value: str | None) -> datetime | None:
    """Parse an API timestamp, insisting on an explicit UTC offset."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value!r} has no UTC offset"
    return parsed


def parsed(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its timestamps parsed, so equal instants compare equal."""
    return {k: when(v) if k in TIMESTAMP_KEYS else v for k, v in body.items()}


def ok(api: APIClient, path: str, **params: Any) -> Any:
    response = api.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def order_ids(page: dict[str, Any]) -> list[str]:
    return [item["order_id"] for item in page["items"]]


@dataclass(frozen=True)
class Shop:
    """Five orders of three customers, placed a minute apart from T0, then changed.

    | order | customer    | items                                 | total | units | status    |
    | o1    | alice       | widget 2 x 10.00                      | 20.00 | 2     | pending   |
    | o2    | bob         | gadget 1 x 99.99                      | 99.99 | 1     | shipped   |
    | o3    | alice       | gizmo 4 x 1.25                        |  5.00 | 4     | cancelled |
    | o4    | carol.smith | widget 1 x 10, doohickey 3 x 2.50,    | 18.00 | 5     | pending   |
    |       |             | + sprocket 1 x 0.50 (added at +7)     |       |       |           |
    | o5    | bob         | sprocket 10 x 0.25 (city changed +8)  |  2.50 | 10    | pending   |
    """

    o1: str
    o2: str
    o3: str
    o4: str
    o5: str
    positions: tuple[int, ...]

    def ids(self, *labels: str) -> list[str]:
        return [getattr(self, label) for label in labels]


def build_shop(clock: Clock, *, wakes: bool) -> Shop:
    """Run the shop's commands, then catch up. ``wakes``: whether each command wakes the
    projections as in production (each event its own batch) or one catch-up applies them all."""
    with pytest.MonkeyPatch.context() as patch:
        if not wakes:
            patch.setattr("orders.services.wake_projections", lambda: None)
        clock.at(at(0))
        o1 = b.place_order(customer_id="alice", items=[("widget", 2, "10.00")])
        clock.at(at(1))
        o2 = b.place_order(customer_id="bob", items=[("gadget", 1, "99.99")], city="Shelbyville")
        clock.at(at(2))
        o3 = b.place_order(customer_id="alice", items=[("gizmo", 4, "1.25")], city="Ogdenville")
        clock.at(at(3))
        o4 = b.place_order(
            customer_id="carol.smith", items=[("widget", 1, "10.00"), ("doohickey", 3, "2.50")]
        )
        clock.at(at(4))
        o5 = b.place_order(
            customer_id="bob", items=[("sprocket", 10, "0.25")], city="North Haverbrook"
        )
        clock.at(at(6))
        cancelled = b.cancel(o3["order_id"], "customer changed mind")
        clock.at(at(7))
        added = b.add_item(o4["order_id"], "sprocket", 1, "0.50")
        clock.at(at(8))
        moved = b.change_address(o5["order_id"], "Capital City")
        clock.at(at(9))
        shipped = b.ship(o2["order_id"], "UPS", "1Z999")
    b.catch_up_until_applied()
    clock.at(at(10))
    return Shop(
        o1=o1["order_id"],
        o2=o2["order_id"],
        o3=o3["order_id"],
        o4=o4["order_id"],
        o5=o5["order_id"],
        positions=tuple(
            r["position"] for r in (o1, o2, o3, o4, o5, cancelled, added, moved, shipped)
        ),
    )


@pytest.fixture(scope="module")
def shared_shop(django_db_setup: None, django_db_blocker: Any) -> Iterator[Shop]:
    """One committed shop for the tests that only read it."""
    clock = Clock(T0)
    try:
        with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
            patch.setattr(timezone, "now", lambda: clock.now)
            shop = build_shop(clock, wakes=False)
        yield shop
    finally:
        with django_db_blocker.unblock():
            b.delete_log_and_read_models()


@pytest.fixture
def shop(clock: Clock) -> Shop:
    """The shop for a test that writes more (transactional); commands apply in one batch."""
    return build_shop(clock, wakes=False)


@pytest.fixture
def woken_shop(clock: Clock) -> Shop:
    """The shop built as production builds it: every command wakes the projections."""
    return build_shop(clock, wakes=True)


def address_body(city: str) -> dict[str, str]:
    return {
        "line1": "1 Main St",
        "line2": "",
        "city": city,
        "postal_code": "12345",
        "country": "US",
    }


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


# --- GET /api/customers/{id}/summary --------------------------------------------------------
@reads
def test_a_customer_summary_counts_open_and_cancelled_orders_and_lifetime_value(
    api: APIClient, shared_shop: Shop
) -> None:
    summaries = {
        customer: parsed(ok(api, f"/api/customers/{customer}/summary"))
        for customer in ("alice", "bob", "carol.smith")
    }

    assert summaries == {
        "alice": {
            "customer_id": "alice",
            "order_count": 2,
            "open_order_count": 1,
            "cancelled_count": 1,
            "lifetime_value": "20.00",
            "last_order_at": at(2),
        },
        "bob": {
            "customer_id": "bob",
            "order_count": 2,
            "open_order_count": 1,
            "cancelled_count": 0,
            "lifetime_value": "102.49",
            "last_order_at": at(4),
        },
        "carol.smith": {
            "customer_id": "carol.smith",
            "order_count": 1,
            "open_order_count": 1,
            "cancelled_count": 0,
            "lifetime_value": "18.00",
            "last_order_at": at(3),
        },
    }


@reads
def test_a_customer_without_orders_has_a_zero_summary(api: APIClient, shared_shop: Shop) -> None:
    assert ok(api, "/api/customers/nobody/summary/") == {
        "customer_id": "nobody",
        "order_count": 0,
        "open_order_count": 0,
        "cancelled_count": 0,
        "lifetime_value": "0.00",
        "last_order_at": None,
    }


# --- GET /api/reports/daily-sales -----------------------------------------------------------
def day(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


@writes
def test_daily_sales_count_each_event_on_its_utc_day_and_revenue_on_the_day_placed(
    api: APIClient, clock: Clock
) -> None:
    clock.at(day("2024-03-01T09:00"))
    a = b.place_order(customer_id="alice", items=[("widget", 2, "10.00")])["order_id"]
    clock.at(day("2024-03-01T12:00"))
    bob = b.place_order(customer_id="bob", items=[("gadget", 1, "10.00")])["order_id"]
    clock.at(day("2024-03-01T23:59:59"))
    c = b.place_order(customer_id="carol", items=[("gizmo", 1, "5.00")])["order_id"]
    clock.at(day("2024-03-02T00:00:01"))
    b.cancel(bob, "duplicate")
    b.ship(a)
    clock.at(day("2024-03-02T08:00"))
    b.place_order(customer_id="dave", items=[("sprocket", 2, "7.50")])
    clock.at(day("2024-03-03T08:00"))
    b.add_item(c, "gizmo", 1, "5.00")  # counts towards 1 March, when c was placed
    clock.at(day("2024-03-04T08:00"))
    b.ship(c)
    b.catch_up_until_applied()

    first, second, fourth = (
        {
            "date": "2024-03-01",
            "orders_placed": 3,
            "orders_cancelled": 0,
            "orders_shipped": 0,
            "gross_revenue": "30.00",
            "items_sold": 4,
        },
        {
            "date": "2024-03-02",
            "orders_placed": 1,
            "orders_cancelled": 1,
            "orders_shipped": 1,
            "gross_revenue": "15.00",
            "items_sold": 2,
        },
        {
            "date": "2024-03-04",
            "orders_placed": 0,
            "orders_cancelled": 0,
            "orders_shipped": 1,
            "gross_revenue": "0.00",
            "items_sold": 0,
        },
    )
    report = ok(api, "/api/reports/daily-sales", **{"from": "2024-03-01", "to": "2024-03-02"})
    assert report == [first, second]
    assert ok(api, "/api/reports/daily-sales/", **{"from": "2024-03-04"}) == [fourth]
    assert ok(api, "/api/reports/daily-sales", to="2024-03-01") == [first]
    assert ok(api, "/api/reports/daily-sales", **{"from": "2024-03-05"}) == []
    everything = ok(api, "/api/reports/daily-sales")
    assert [row["date"] for row in everything] == sorted(row["date"] for row in everything)
    assert [row for row in everything if row["date"] != "2024-03-03"] == [first, second, fourth]


# --- GET /api/projections -------------------------------------------------------------------
PROJECTION_KEYS = {
    "name",
    "position",
    "head_position",
    "lag_events",
    "lag_seconds",
    "status",
    "last_error",
    "updated_at",
}


@reads
def test_projections_report_no_lag_after_catch_up(api: APIClient, shared_shop: Shop) -> None:
    head = max(shared_shop.positions)
    rows = ok(api, "/api/projections")

    assert [row["name"] for row in rows] == ["customer_summaries", "daily_sales", "order_views"]
    for row in rows:
        assert set(row) == PROJECTION_KEYS
        assert {k: v for k, v in row.items() if k != "updated_at"} == {
            "name": row["name"],
            "position": head,
            "head_position": head,
            "lag_events": 0,
            "lag_seconds": 0.0,
            "status": "running",
            "last_error": None,
        }
        assert when(row["updated_at"]) == at(9)


@writes
def test_projections_report_lag_until_they_catch_up_and_stall_when_quiet(
    api: APIClient, shop: Shop, clock: Clock, settings: Any
) -> None:
    settings.PROJECTION_STALLED_SECONDS = 30
    head = max(shop.positions)
    clock.at(at(20))
    b.append_new_order(customer_id="erin")  # straight to the log: nothing wakes projections
    clock.at(at(21))
    _, appended = b.append_new_order(customer_id="frank")
    clock.at(at(21) + timedelta(seconds=12.5))

    lagging = ok(api, "/api/projections")
    for row in lagging:
        assert (row["position"], row["head_position"]) == (head, appended.last_position)
        assert (row["lag_events"], row["lag_seconds"]) == (2, 60 + 12.5)
        assert row["status"] == "stalled"  # quiet since +9 minutes with events waiting

    clock.at(at(30))
    b.catch_up_until_applied(["order_views"])
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert (rows["order_views"]["lag_events"], rows["order_views"]["status"]) == (0, "running")
    assert rows["order_views"]["position"] == appended.last_position
    assert rows["daily_sales"]["lag_events"] == 2

    clock.advance(seconds=29)
    b.append_new_order(customer_id="gina")
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert (rows["order_views"]["lag_events"], rows["order_views"]["status"]) == (1, "running")
    clock.advance(seconds=2)
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert rows["order_views"]["status"] == "stalled"


# --- rebuilds -------------------------------------------------------------------------------
def answers(api: APIClient, shop: Shop) -> dict[str, Any]:
    """Every query answer the shop's data can give, for before/after comparisons."""
    paths = [f"/api/orders/{order_id}" for order_id in shop.ids("o1", "o2", "o3", "o4", "o5")]
    paths += [f"/api/customers/{c}/orders" for c in ("alice", "bob", "carol.smith")]
    paths += [f"/api/customers/{c}/summary" for c in ("alice", "bob", "carol.smith")]
    paths += ["/api/orders/search?page_size=100", "/api/orders/search?q=widget"]
    paths += ["/api/reports/daily-sales"]
    return {path: ok(api, path) for path in paths}


def generations() -> dict[str, int]:
    return {name: active_state(name).generation for name in b.READ_MODEL_PROJECTIONS}


@writes
def test_rebuilding_one_projection_then_all_gives_identical_answers_from_new_generations(
    api: APIClient, woken_shop: Shop, clock: Clock
) -> None:
    before, tables = answers(api, woken_shop), b.read_tables()
    clock.advance(hours=5)  # timestamps must come from the events, not from the rebuild
    out = StringIO()

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=out)

    assert generations() == {"customer_summaries": 1, "daily_sales": 1, "order_views": 2}
    assert "order_views: generation 2 is live" in out.getvalue()
    assert answers(api, woken_shop) == before
    assert b.read_tables() == tables

    clock.advance(days=3)
    call_command("rebuild_projection", "--all", "--no-progress", stdout=StringIO())

    assert generations() == {"customer_summaries": 2, "daily_sales": 2, "order_views": 3}
    assert answers(api, woken_shop) == before
    assert b.read_tables() == tables
    live = ProjectionState.objects.filter(name__in=b.READ_MODEL_PROJECTIONS, active=True)
    assert {(s.name, s.status, s.position) for s in live} == {
        (name, ProjectionStatus.RUNNING, max(woken_shop.positions))
        for name in b.READ_MODEL_PROJECTIONS
    }


@writes
def test_a_replaced_generation_keeps_its_rows_for_the_grace_period_then_is_purged(
    api: APIClient, shop: Shop, clock: Clock, settings: Any
) -> None:
    settings.PROJECTION_RETIRED_GRACE_SECONDS = 60
    before = answers(api, shop)

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())

    retired = ProjectionState.objects.get(name="order_views", generation=1)
    assert (retired.active, retired.status) == (False, ProjectionStatus.RETIRED)
    assert OrderView.objects.filter(generation=1).count() == 5  # queries may still read them
    assert {row["name"]: row["status"] for row in ok(api, "/api/projections")} == dict.fromkeys(
        b.READ_MODEL_PROJECTIONS, "running"
    )

    clock.advance(seconds=59)
    assert purge_retired() == 0
    clock.advance(seconds=2)
    catch_up()  # the sweep purges what has been retired long enough

    assert not OrderView.objects.filter(generation=1).exists()
    assert not OrderViewItem.objects.filter(generation=1).exists()
    assert not ProjectionState.objects.filter(name="order_views", generation=1).exists()
    assert answers(api, shop) == before


class Interrupted(Exception):
    pass


@writes
def test_an_interrupted_rebuild_keeps_the_old_generation_serving_and_resumes(
    api: APIClient, shop: Shop, settings: Any
) -> None:
    before = answers(api, shop)
    settings.PROJECTION_BATCH_SIZE = 2
    target = start_rebuild("order_views")

    def stop_after_first_batch(count: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        runner.run("order_views", generation=target.generation, progress=stop_after_first_batch)

    target.refresh_from_db()
    assert 0 < target.position < max(shop.positions)
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert rows["order_views"]["status"] == "rebuilding"
    assert answers(api, shop) == before  # still generation 1

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())

    assert generations()["order_views"] == target.generation
    assert answers(api, shop) == before
    assert {row["name"]: row["status"] for row in ok(api, "/api/projections")} == dict.fromkeys(
        b.READ_MODEL_PROJECTIONS, "running"
    )


@writes
def test_a_query_overtaken_by_a_rebuild_switch_still_answers_from_the_read_model(
    api: APIClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    switched: set[str] = set()
    read_generation = selectors.active_generation

    def switch_right_after_reading_the_generation(name: str) -> int:
        generation = read_generation(name)
        if name not in switched:  # the rebuild completes between the query's two reads
            switched.add(name)
            rebuild(name)
        return generation

    monkeypatch.setattr(selectors, "active_generation", switch_right_after_reading_the_generation)

    view = api.get(f"/api/orders/{shop.o1}")
    summary = api.get("/api/customers/alice/summary")

    assert switched == {"order_views", "customer_summaries"}
    assert view.status_code == 200, view.content
    assert summary.json()["order_count"] == 2


@pytest.mark.parametrize(
    "arguments",
    [(), ("order_views", "--all"), ("no_such_projection",)],
    ids=["nothing", "both", "unknown"],
)
def test_rebuild_projection_refuses_unclear_arguments(arguments: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        call_command("rebuild_projection", *arguments, "--no-progress", stdout=StringIO())


# --- errors ---------------------------------------------------------------------------------
ORDER = "5b0c7bd6-8a0c-4a57-9a38-3cbb2f1f2f11"
TOO_LONG_ID = "x" * 65


@reads
@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/customers/alice/orders", {"page": "0"}, "page"),
        ("/api/customers/alice/orders", {"page": "-1"}, "page"),
        ("/api/customers/alice/orders", {"page": "abc"}, "page"),
        ("/api/customers/alice/orders", {"page": "1.5"}, "page"),
        ("/api/customers/alice/orders", {"page_size": "0"}, "page_size"),
        ("/api/customers/alice/orders", {"page_size": "101"}, "page_size"),
        ("/api/customers/alice/orders", {"status": "bogus"}, "status"),
        ("/api/customers/alice/orders", {"sort_by": "created_at"}, "sort_by"),
        ("/api/customers/bad id!/orders", {}, "customer_id"),
        (f"/api/customers/{TOO_LONG_ID}/orders", {}, "customer_id"),
        ("/api/customers/bad id!/summary", {}, "customer_id"),
        ("/api/customers/alice/summary", {"page": "1"}, "page"),
        ("/api/orders/search", {"page": "0"}, "page"),
        ("/api/orders/search", {"page": "abc"}, "page"),
        ("/api/orders/search", {"page_size": "0"}, "page_size"),
        ("/api/orders/search", {"page_size": "101"}, "page_size"),
        ("/api/orders/search", {"sort_by": "foo"}, "sort_by"),
        ("/api/orders/search", {"sort_by": "search_text"}, "sort_by"),
        ("/api/orders/search", {"sort_order": "up"}, "sort_order"),
        ("/api/orders/search", {"status": "bogus"}, "status"),
        ("/api/orders/search", {"min_total": "-1"}, "min_total"),
        ("/api/orders/search", {"min_total": "abc"}, "min_total"),
        ("/api/orders/search", {"min_total": "1.234"}, "min_total"),
        ("/api/orders/search", {"max_total": "-0.01"}, "max_total"),
        ("/api/orders/search", {"min_total": "10", "max_total": "5"}, "min_total"),
        ("/api/orders/search", {"created_after": "notadate"}, "created_after"),
        ("/api/orders/search", {"created_before": "2024-13-40"}, "created_before"),
        ("/api/orders/search", {"customer_id": "bad id!"}, "customer_id"),
        ("/api/orders/search", {"customer_id": TOO_LONG_ID}, "customer_id"),
        ("/api/orders/search", {"q": "x" * 201}, "q"),
        ("/api/orders/search", {"unknown": "1"}, "unknown"),
        ("/api/orders/not-a-uuid", {}, "order_id"),
        (f"/api/orders/{ORDER}", {"page": "1"}, "page"),
        ("/api/reports/daily-sales", {"from": "notadate"}, "from"),
        ("/api/reports/daily-sales", {"to": "2024-02-30"}, "to"),
        ("/api/reports/daily-sales", {"from": "2024-03-02", "to": "2024-03-01"}, "from"),
        ("/api/reports/daily-sales", {"date": "2024-03-01"}, "date"),
        ("/api/projections", {"name": "order_views"}, "name"),
        (f"/api/orders/{ORDER}", {"min_position": "-1"}, "min_position"),
        ("/api/orders/search", {"min_position": "abc"}, "min_position"),
        ("/api/orders/search", {"min_position": "1", "consistency_timeout": "31"}, None),
        ("/api/projections", {"min_position": "1", "consistency_timeout": "-1"}, None),
        ("/api/reports/daily-sales", {"min_position": "1", "consistency_timeout": "abc"}, None),
    ],
)
def test_malformed_queries_are_a_400_validation_error_naming_the_field(
    api: APIClient, path: str, params: dict[str, str], field: str | None
) -> None:
    response = api.get(path, params)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error) == {"code", "message", "details"}
    assert field is None or field in error["details"], error


@reads
@pytest.mark.parametrize(
    "path", ["/api/orders/search", "/api/customers/alice/orders"], ids=["search", "customer"]
)
def test_a_page_number_too_large_for_the_database_is_not_a_server_error(
    api: APIClient, path: str
) -> None:
    response = api.get(path, {"page": "99999999999999999999", "page_size": "100"})

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert "page" in response.json()["error"]["details"]
    else:
        assert response.json()["items"] == []


@reads
@pytest.mark.parametrize(
    "path",
    [
        f"/api/orders/{ORDER}",
        "/api/customers/alice/orders",
        "/api/orders/search",
        "/api/customers/alice/summary",
        "/api/reports/daily-sales",
        "/api/projections",
    ],
)
def test_anonymous_readers_get_a_401(path: str) -> None:
    response = APIClient().get(path)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


# --- routing ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class GetNothing(queries.Query):
    pass


def test_answering_an_unregistered_query_raises_no_handler_error_naming_it() -> None:
    with pytest.raises(NoHandlerError, match="GetNothing"):
        selectors.answer(GetNothing())


def test_every_query_type_has_a_selector() -> None:
    assert set(selectors.SELECTORS) == {
        cls
        for cls in vars(queries).values()
        if isinstance(cls, type) and issubclass(cls, queries.Query) and cls is not queries.Query
    }
