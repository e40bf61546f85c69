"""Fixtures of the ops tests: a clerk's API client and an order placed through it."""

from __future__ import annotations

import os

import pytest

ORDER_BODY = {
    "customer_id": "rita",
    "items": [{"product_id": "widget", "quantity": 2, "unit_price": "12.50"}],
    "shipping_address": {
        "line1": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "US",
    },
}


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
