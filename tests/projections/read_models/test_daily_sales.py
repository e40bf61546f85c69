"""Daily sales through the query API.

A module of its own: it writes (transactional) and must start from an empty log, which a
module sharing the committed shop (test_reports.py's ``shared_shop``) is not until its last
test has run."""

from __future__ import annotations

from datetime import UTC, datetime

from rest_framework.test import APIClient

from tests.projections import builders as b
from tests.projections.conftest import Clock
from tests.projections.read_models.shop import ok, writes


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
