"""The customer_summaries projection: per customer, order counts and lifetime value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from projections.read_models.folding import CANCELLED, PENDING, ZERO, OrderState
from projections.read_models.models import CustomerOrderFact, CustomerSummary
from projections.read_models.reports import Contribution, FactProjection


class CustomerSummaries(FactProjection):
    name: ClassVar[str] = "customer_summaries"
    fact_model = CustomerOrderFact
    report_model = CustomerSummary
    tables = (CustomerOrderFact, CustomerSummary)
    key = "customer_id"
    sums = ("order_count", "open_order_count", "cancelled_count", "lifetime_value")
    latest = ("last_order_at",)

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        cancelled = state.status == CANCELLED
        yield (
            state.customer_id,
            (
                1,
                1 if state.status == PENDING else 0,
                1 if cancelled else 0,
                ZERO if cancelled else state.total,
                state.created_at,
            ),
        )
