"""The customer summaries through the query API (daily sales: test_daily_sales.py)."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.projections.read_models.shop import Shop, at, ok, parsed, reads


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
