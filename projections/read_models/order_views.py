"""The order read models: order views (with items), customer summaries, daily sales.

Each projection takes the states of the orders a batch touches from memory or, for the ones
it has not folded lately, from its rows (none for orders the batch creates), folds the batch's
events (projections.folding) and writes back with a few set-based statements
(projections.tables). Report projections keep per-order facts and move
their aggregates by deltas (new contribution minus old), so a batch costs the same however many
orders a day or a customer already has.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from eventstore.store import Checkpoint, RecordedEvent
from projections.engine import base, tables
from projections.read_models.folding import (
    CANCELLED,
    ORDER_EVENT_TYPES,
    PENDING,
    ZERO,
    OrderId,
    OrderState,
    StateCache,
    fold,
    lines_from_payload,
    order_id_of,
    orders_to_load,
)
from projections.read_models.models import (
    CustomerOrderFact,
    CustomerSummary,
    DailySales,
    OrderFact,
    OrderView,
    OrderViewItem,
    SalesOrderFact,
)


def _search_text(state: OrderState) -> str:
    parts = [state.customer_id, *state.lines]
    if state.shipping_address:
        parts.append(state.shipping_address.get("city", ""))
    if state.cancel_reason:
        parts.append(state.cancel_reason)
    return " ".join(parts)


_VIEW_COLUMNS = (
    "customer_id",
    "status",
    "currency",
    "total_amount",
    "item_count",
    "shipping_address",
    "created_at",
    "updated_at",
    "shipped_at",
    "cancelled_at",
    "cancel_reason",
    "carrier",
    "tracking_number",
    "version",
    "search_text",
)
_ITEM_COLUMNS = ("order_id", "product_id", "quantity", "unit_price")


class _OrderProjection(base.Projection):
    """A read model folded per order. The states of the orders a worker folded last stay in
    memory (a StateCache), so only the others' rows are read back before a batch."""

    handles: ClassVar[frozenset[str]] = ORDER_EVENT_TYPES
    reads_metadata: ClassVar[bool] = False

    def __init__(self) -> None:
        self.cache = StateCache(settings.PROJECTION_CACHED_ORDERS)

    def batch_starting(self, generation: int, after: Checkpoint, to: Checkpoint) -> None:
        self.cache.start(generation, after, to)

    def states_for(
        self, events: Sequence[RecordedEvent], generation: int
    ) -> dict[OrderId, OrderState]:
        """The states of the orders ``events`` touch and do not create (and maybe more)."""
        states = self.cache.states(generation)
        missing = {order_id for order_id in orders_to_load(events) if order_id not in states}
        states.update(self.load(generation, missing))
        return states

    def load(self, generation: int, order_ids: set[OrderId]) -> dict[OrderId, OrderState]:
        """The states of ``order_ids``, read back from this projection's rows."""
        raise NotImplementedError


class OrderViews(_OrderProjection):
    name: ClassVar[str] = "order_views"
    tables = (OrderView, OrderViewItem)

    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        touched = fold(events, self.states_for(events, generation))
        tables.upsert(
            OrderView,
            generation,
            [self._row(state) for state in touched.values()],
            unique=["order_id"],
            update=_VIEW_COLUMNS,
        )
        relined = [state for state in touched.values() if state.lines_changed]
        # Rows of orders created in this batch don't exist yet: nothing to delete.
        tables.delete(
            OrderViewItem,
            generation,
            "order_id",
            [state.order_id for state in relined if not state.is_new],
        )
        tables.upsert(
            OrderViewItem,
            generation,
            [
                {
                    "order_id": state.order_id,
                    "line_no": line_no,
                    "product_id": product_id,
                    "quantity": quantity,
                    "unit_price": price,
                    "line_total": price * quantity,
                }
                for state in relined
                for line_no, (product_id, (quantity, price)) in enumerate(
                    state.lines.items(), start=1
                )
            ],
            unique=["order_id", "product_id"],
        )

    def load(self, generation: int, order_ids: set[OrderId]) -> dict[OrderId, OrderState]:
        lines: dict[OrderId, list[tuple[str, int, Decimal]]] = defaultdict(list)
        for item in tables.load(
            OrderViewItem,
            generation,
            "order_id",
            order_ids,
            _ITEM_COLUMNS,
            order_by=("order_id", "line_no"),
        ):
            lines[str(item["order_id"])].append(
                (item["product_id"], item["quantity"], item["unit_price"])
            )
        states = {}
        for row in tables.load(
            OrderView, generation, "order_id", order_ids, ("order_id", *_VIEW_COLUMNS)
        ):
            del row["total_amount"], row["item_count"], row["search_text"]  # derived
            order_id = str(row.pop("order_id"))
            states[order_id] = OrderState(
                order_id, lines=lines_from_payload(lines[order_id]), **row
            )
        return states

    @staticmethod
    def _row(state: OrderState) -> dict[str, Any]:
        return {
            "order_id": state.order_id,
            "customer_id": state.customer_id,
            "status": state.status,
            "currency": state.currency,
            "total_amount": state.total,
            "item_count": state.item_count,
            "shipping_address": state.shipping_address,
            "created_at": state.created_at,
            "updated_at": state.updated_at,
            "shipped_at": state.shipped_at,
            "cancelled_at": state.cancelled_at,
            "cancel_reason": state.cancel_reason or None,
            "carrier": state.carrier,
            "tracking_number": state.tracking_number,
            "version": state.version,
            "search_text": _search_text(state),
        }


_FACT_COLUMNS = (
    "customer_id",
    "status",
    "lines",
    "total_amount",
    "item_count",
    "created_at",
    "shipped_at",
    "cancelled_at",
)
# What one order adds to one report row: (the row's key, values of the report's ``sums``
# columns followed by its ``latest`` ones).
Contribution = tuple[Any, tuple[Any, ...]]


class _FactProjection(_OrderProjection):
    """A report fed by per-order facts; subclasses say what one order contributes to it."""

    fact_model: ClassVar[type[OrderFact]]
    report_model: ClassVar[type[models.Model]]
    key: ClassVar[str]
    sums: ClassVar[tuple[str, ...]]  # columns that add up
    latest: ClassVar[tuple[str, ...]] = ()  # columns that keep their maximum

    def load(self, generation: int, order_ids: set[OrderId]) -> dict[OrderId, OrderState]:
        states = {}
        for fact in tables.load(
            self.fact_model,
            generation,
            "order_id",
            order_ids,
            (
                "order_id",
                "customer_id",
                "status",
                "lines",
                "created_at",
                "shipped_at",
                "cancelled_at",
            ),
        ):
            order_id = str(fact.pop("order_id"))
            fact["lines"] = lines_from_payload(fact["lines"])
            states[order_id] = OrderState(order_id, **fact)
        return states

    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        states = self.states_for(events, generation)
        before = _Totals(len(self.sums))
        for order_id in {order_id_of(e) for e in events}:
            state = states.get(order_id)
            if state is not None:
                before.add(self.contributions(state))
        touched = fold(events, states)
        tables.upsert(
            self.fact_model,
            generation,
            [
                {
                    "order_id": state.order_id,
                    "customer_id": state.customer_id,
                    "status": state.status,
                    "lines": state.lines_payload(),
                    "total_amount": state.total,
                    "item_count": state.item_count,
                    "created_at": state.created_at,
                    "shipped_at": state.shipped_at,
                    "cancelled_at": state.cancelled_at,
                }
                for state in touched.values()
            ],
            unique=["order_id"],
            update=_FACT_COLUMNS,
        )
        deltas = _Totals(len(self.sums))
        for state in touched.values():
            deltas.add(self.contributions(state))
        deltas.subtract(before)
        columns = (*self.sums, *self.latest)
        tables.add(
            self.report_model,
            generation,
            [{self.key: key, **dict(zip(columns, values, strict=True))} for key, values in deltas],
            key=self.key,
            sums=self.sums,
            latest=self.latest,
        )

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        raise NotImplementedError


class _Totals:
    """Report rows being added up: ``sums`` counters, then maxima (timestamps)."""

    def __init__(self, sums: int) -> None:
        self.sums = sums
        self.rows: dict[Any, list[Any]] = {}

    def add(self, parts: Iterable[Contribution]) -> None:
        for key, values in parts:
            row = self.rows.get(key)
            if row is None:
                self.rows[key] = list(values)
                continue
            for i in range(self.sums):
                row[i] += values[i]
            for i in range(self.sums, len(values)):
                if values[i] is not None and (row[i] is None or values[i] > row[i]):
                    row[i] = values[i]

    def subtract(self, other: _Totals) -> None:
        """Take ``other``'s counters off (a maximum cannot be taken back: it stays)."""
        for key, values in other.rows.items():
            row = self.rows.setdefault(key, [0] * self.sums + [None] * (len(values) - self.sums))
            for i in range(self.sums):
                row[i] -= values[i]

    def __iter__(self) -> Iterator[tuple[Any, list[Any]]]:
        """The rows that change anything."""
        for key, row in self.rows.items():
            if any(row[: self.sums]) or any(v is not None for v in row[self.sums :]):
                yield key, row


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class CustomerSummaries(_FactProjection):
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


class DailySalesReport(_FactProjection):
    name: ClassVar[str] = "daily_sales"
    fact_model = SalesOrderFact
    report_model = DailySales
    tables = (SalesOrderFact, DailySales)
    key = "date"
    sums = ("orders_placed", "orders_cancelled", "orders_shipped", "gross_revenue", "items_sold")

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        assert state.created_at is not None
        counted = state.status != CANCELLED
        # Revenue and items count on the day the order was placed.
        yield (
            _utc_date(state.created_at),
            (1, 0, 0, state.total if counted else ZERO, state.item_count if counted else 0),
        )
        if state.cancelled_at is not None:
            yield (_utc_date(state.cancelled_at), (0, 1, 0, ZERO, 0))
        if state.shipped_at is not None:
            yield (_utc_date(state.shipped_at), (0, 0, 1, ZERO, 0))


def register_all() -> None:
    for projection in (OrderViews(), CustomerSummaries(), DailySalesReport()):
        base.register(projection)
