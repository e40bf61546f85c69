"""Orders at the domain's limits: every read model holds what they add up to (issue 16).

A day of the largest orders the rules allow (MAX_DISTINCT_PRODUCTS products of MAX_QUANTITY
units at MAX_UNIT_PRICE each), sent through the API, takes the day's units past a 32-bit
integer; every read table must still equal the fold of the log (tests/faults/fold.py), and the
reports must answer what it says.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from orders.domain.values import MAX_DISTINCT_PRODUCTS, MAX_QUANTITY, MAX_UNIT_PRICE
from projections.engine import runner
from projections.models import ProjectionState
from tests.faults.fold import assert_read_models_equal_the_log
from tests.projections import builders as b
from tests.projections.conftest import Clock
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LARGEST_ORDER_UNITS = MAX_DISTINCT_PRODUCTS * MAX_QUANTITY
LARGEST_ORDER_TOTAL = LARGEST_ORDER_UNITS * MAX_UNIT_PRICE
INT32_MAX = 2**31 - 1
PRODUCTS = [f"p-{n:03d}" for n in range(MAX_DISTINCT_PRODUCTS)]
# The fewest whose units overflow 32 bits, and one more that is cancelled (it adds no units).
ORDERS = INT32_MAX // LARGEST_ORDER_UNITS + 2


def largest_order_body(customer_id: str) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "items": [
            {"product_id": product_id, "quantity": MAX_QUANTITY, "unit_price": "1000000.00"}
            for product_id in PRODUCTS
        ],
        "shipping_address": {
            "line1": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
    }


def caught_up_or_failed() -> bool:
    for name in b.READ_MODEL_PROJECTIONS:
        runner.run(name)
    return b.caught_up() or ProjectionState.objects.filter(status="failed").exists()


def test_a_day_of_the_largest_orders_overflows_no_read_model(api: APIClient, clock: Clock) -> None:
    # The first through the API (the largest order is a valid request), the others through
    # the command service the API calls (the same events, in half the time).
    response = api.post("/api/orders", largest_order_body("whale"), format="json")
    assert response.status_code == 201, response.content
    placed = [response.json()]
    items = tuple((product_id, MAX_QUANTITY, str(MAX_UNIT_PRICE)) for product_id in PRODUCTS)
    placed += [b.place_order(customer_id="whale", items=items) for _ in range(ORDERS - 1)]
    last = placed[-1]
    # One order cancelled (its revenue and units no longer count), one shipped.
    shipped = api.post(f"/api/orders/{placed[0]['order_id']}/ship", {}, format="json")
    assert shipped.status_code == 200, shipped.content
    cancelled = api.post(
        f"/api/orders/{placed[1]['order_id']}/cancel", {"reason": "too much"}, format="json"
    )
    assert cancelled.status_code == 200, cancelled.content
    wait_until(caught_up_or_failed, timeout=120, interval=0.05, what="the projections")

    failed = ProjectionState.objects.exclude(last_error="").values_list("name", "last_error")
    assert not failed, list(failed)
    assert_read_models_equal_the_log()

    fresh = {"min_position": cancelled.json()["position"]}
    [day] = api.get("/api/reports/daily-sales", fresh).json()
    counted = ORDERS - 1
    assert (day["orders_placed"], day["orders_shipped"], day["orders_cancelled"]) == (
        ORDERS,
        1,
        1,
    )
    assert day["items_sold"] == counted * LARGEST_ORDER_UNITS > INT32_MAX
    assert Decimal(day["gross_revenue"]) == counted * LARGEST_ORDER_TOTAL
    summary = api.get("/api/customers/whale/summary", fresh).json()
    assert Decimal(summary["lifetime_value"]) == counted * LARGEST_ORDER_TOTAL
    assert (summary["order_count"], summary["cancelled_count"]) == (ORDERS, 1)
    order = api.get(f"/api/orders/{last['order_id']}", fresh).json()
    assert (Decimal(order["total_amount"]), order["item_count"]) == (
        LARGEST_ORDER_TOTAL,
        LARGEST_ORDER_UNITS,
    )
    # The largest total is one a search can ask for.
    found = api.get("/api/orders/search", {"min_total": f"{LARGEST_ORDER_TOTAL:.2f}", **fresh})
    assert found.status_code == 200, found.content
    assert found.json()["total"] == ORDERS
