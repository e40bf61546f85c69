"""The order read models the engine runs: each projection is named here, once."""

from __future__ import annotations

from projections.engine import followers
from projections.read_models.customer_summaries import CustomerSummaries
from projections.read_models.daily_sales import DailySalesReport
from projections.read_models.order_views import OrderViews


def register_all() -> None:
    # The order of their turns in a catch-up: the order views first, which read-your-writes
    # queries (an order just changed) wait for.
    for projection in (OrderViews(), CustomerSummaries(), DailySalesReport()):
        followers.register(projection)
