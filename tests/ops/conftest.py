"""Fixtures of the ops tests: a clerk's API client and an order placed through it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from rest_framework.test import APIClient

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
def api(clerk: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(clerk)
    return client


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
