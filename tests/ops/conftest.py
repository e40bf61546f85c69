"""Fixtures of the ops tests: an order's body, the test Redis, the production virtualenv."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ops import production

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


@pytest.fixture(scope="session")
def production_venv() -> Path:
    """A virtualenv with requirements.txt and nothing else (tests/ops/production.py)."""
    return production.production_venv()
