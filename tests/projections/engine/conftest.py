"""Fixtures of the engine's tests: fast poison settings, five orders already applied."""

from __future__ import annotations

from typing import Any

import pytest

from tests.projections import builders as b


@pytest.fixture
def poison_settings(settings: Any) -> Any:
    settings.PROJECTION_RETRY_BACKOFF_SECONDS = 0
    settings.PROJECTION_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def five_orders() -> list[dict[str, Any]]:
    """Five orders (one event each), applied by the real projections, all readable."""
    orders = [b.place_order(customer_id=f"cust-{n}") for n in range(5)]
    b.catch_up_until_applied()
    return orders
