"""The daily_sales projection: per UTC day, orders placed, cancelled, shipped and revenue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import ClassVar

from projections.read_models.folding import CANCELLED, ZERO, OrderState
from projections.read_models.models import DailySales, SalesOrderFact
from projections.read_models.reports import Contribution, FactProjection


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class DailySalesReport(FactProjection):
    name: ClassVar[str] = "daily_sales"
    fact_model = SalesOrderFact
    report_model = DailySales
    tables = (SalesOrderFact, DailySales)
    key = "date"
    sums = ("orders_placed", "orders_cancelled", "orders_shipped", "gross_revenue", "items_sold")

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        assert state.created_at is not None
        counted = state.status != CANCELLED
        # Each count on the day its event was recorded; revenue and items on the day placed.
        yield (
            _utc_date(state.created_at),
            (1, 0, 0, state.total if counted else ZERO, state.item_count if counted else 0),
        )
        if state.cancelled_at is not None:
            yield (_utc_date(state.cancelled_at), (0, 1, 0, ZERO, 0))
        if state.shipped_at is not None:
            yield (_utc_date(state.shipped_at), (0, 0, 1, ZERO, 0))
