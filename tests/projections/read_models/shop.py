"""The shop the read-model tests query: five orders of three customers, and how to read answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

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
            patch.setattr("orders.services.announce_commit", lambda: None)
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


def address_body(city: str) -> dict[str, str]:
    return {
        "line1": "1 Main St",
        "line2": "",
        "city": city,
        "postal_code": "12345",
        "country": "US",
    }
