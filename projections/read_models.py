"""The order read models: order views (with items), customer summaries, daily sales.

Each projection loads the current rows of the orders a batch touches (none for orders the batch
creates), folds the batch's events with the domain's rules, and writes back with a few
set-based statements (projections.tables). Report projections keep per-order facts and move
their aggregates by deltas (new contribution minus old), so a batch costs the same however many
orders a day or a customer already has.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from eventstore.store import RecordedEvent
from orders.domain.model import Order, OrderStatus
from projections import base, tables
from projections.folding import (
    ORDER_EVENT_TYPES,
    OrderState,
    lines_payload,
    order_id_of,
    restore_order,
)
from projections.models import (
    CustomerOrderFact,
    CustomerSummary,
    DailySales,
    OrderFact,
    OrderView,
    OrderViewItem,
    SalesOrderFact,
)

ZERO = Decimal("0.00")
LINE_EVENTS = frozenset({"OrderCreated", "OrderItemAdded", "OrderItemRemoved"})


def _fold(
    events: Sequence[RecordedEvent], states: dict[uuid.UUID, OrderState]
) -> dict[uuid.UUID, OrderState]:
    """Apply ``events`` to ``states`` (adding new orders); returns the states touched."""
    touched: dict[uuid.UUID, OrderState] = {}
    for event in events:
        order_id = order_id_of(event)
        state = states.get(order_id)
        if state is None:
            if event.event_type != "OrderCreated":
                raise ValueError(
                    f"{event.event_type} at position {event.global_position} is for order "
                    f"{order_id}, which this projection has never seen created"
                )
            state = states[order_id] = OrderState(Order(order_id), is_new=True)
        state.apply(event)
        touched[order_id] = state
    return touched


def _orders_to_load(events: Sequence[RecordedEvent]) -> set[uuid.UUID]:
    """The orders a batch touches but does not create: their rows must be read first."""
    created = {order_id_of(e) for e in events if e.event_type == "OrderCreated"}
    return {order_id_of(e) for e in events} - created


def _search_text(order: Order) -> str:
    parts = [order.customer_id, *order.lines]
    if order.shipping_address is not None:
        parts.append(order.shipping_address.city)
    if order.cancel_reason:
        parts.append(order.cancel_reason)
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


class OrderViews(base.Projection):
    name: ClassVar[str] = "order_views"
    handles: ClassVar[frozenset[str]] = ORDER_EVENT_TYPES
    tables = (OrderView, OrderViewItem)

    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        touched = _fold(events, self._load(generation, _orders_to_load(events)))
        tables.upsert(
            OrderView,
            generation,
            [{"order_id": order_id, **self._row(state)} for order_id, state in touched.items()],
            unique=["order_id"],
            update=_VIEW_COLUMNS,
        )
        # Items change only with these events; rows of orders created here don't exist yet.
        relined = {order_id_of(e) for e in events if e.event_type in LINE_EVENTS}
        tables.delete(
            OrderViewItem,
            generation,
            "order_id",
            [order_id for order_id in relined if not touched[order_id].is_new],
        )
        tables.upsert(
            OrderViewItem,
            generation,
            [
                {
                    "order_id": order_id,
                    "line_no": line_no,
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "line_total": line.line_total,
                }
                for order_id in relined
                for line_no, line in enumerate(touched[order_id].order.lines.values(), start=1)
            ],
            unique=["order_id", "product_id"],
        )

    @staticmethod
    def _load(generation: int, order_ids: set[uuid.UUID]) -> dict[uuid.UUID, OrderState]:
        lines: dict[uuid.UUID, list[tuple[str, int, Decimal]]] = defaultdict(list)
        for item in tables.load(
            OrderViewItem,
            generation,
            "order_id",
            order_ids,
            _ITEM_COLUMNS,
            order_by=("order_id", "line_no"),
        ):
            lines[item["order_id"]].append(
                (item["product_id"], item["quantity"], item["unit_price"])
            )
        return {
            row["order_id"]: OrderState(
                restore_order(
                    row["order_id"],
                    customer_id=row["customer_id"],
                    status=row["status"],
                    currency=row["currency"],
                    lines=lines[row["order_id"]],
                    shipping_address=row["shipping_address"],
                    cancel_reason=row["cancel_reason"],
                    carrier=row["carrier"],
                    tracking_number=row["tracking_number"],
                ),
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                shipped_at=row["shipped_at"],
                cancelled_at=row["cancelled_at"],
                version=row["version"],
            )
            for row in tables.load(
                OrderView, generation, "order_id", order_ids, ("order_id", *_VIEW_COLUMNS)
            )
        }

    @staticmethod
    def _row(state: OrderState) -> dict[str, Any]:
        order = state.order
        return {
            "customer_id": order.customer_id,
            "status": order.status.value,
            "currency": order.currency,
            "total_amount": order.total,
            "item_count": order.item_count,
            "shipping_address": order.shipping_address.to_payload()
            if order.shipping_address
            else {},
            "created_at": state.created_at,
            "updated_at": state.updated_at,
            "shipped_at": state.shipped_at,
            "cancelled_at": state.cancelled_at,
            "cancel_reason": order.cancel_reason or None,
            "carrier": order.carrier,
            "tracking_number": order.tracking_number,
            "version": state.version,
            "search_text": _search_text(order),
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
# Counters: (count, open or cancelled..., amount, units, latest timestamp) — see contributions.
Contribution = tuple[Any, list[Any]]


class _FactProjection(base.Projection):
    """A report fed by per-order facts; subclasses say what one order contributes to it."""

    fact_model: ClassVar[type[OrderFact]]
    handles: ClassVar[frozenset[str]] = ORDER_EVENT_TYPES

    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        states: dict[uuid.UUID, OrderState] = {}
        before: dict[Any, list[Any]] = defaultdict(_zeros)
        for fact in tables.load(
            self.fact_model,
            generation,
            "order_id",
            _orders_to_load(events),
            ("order_id", *_FACT_COLUMNS),
        ):
            state = OrderState(
                restore_order(
                    fact["order_id"],
                    customer_id=fact["customer_id"],
                    status=fact["status"],
                    lines=[(pid, qty, Decimal(price)) for pid, qty, price in fact["lines"]],
                ),
                created_at=fact["created_at"],
                shipped_at=fact["shipped_at"],
                cancelled_at=fact["cancelled_at"],
            )
            states[fact["order_id"]] = state
            _add(before, self.contributions(state), sign=1)
        touched = _fold(events, states)
        tables.upsert(
            self.fact_model,
            generation,
            [
                {
                    "order_id": order_id,
                    "customer_id": state.order.customer_id,
                    "status": state.order.status.value,
                    "lines": lines_payload(state.order),
                    "total_amount": state.order.total,
                    "item_count": state.order.item_count,
                    "created_at": state.created_at,
                    "shipped_at": state.shipped_at,
                    "cancelled_at": state.cancelled_at,
                }
                for order_id, state in touched.items()
            ],
            unique=["order_id"],
            update=_FACT_COLUMNS,
        )
        deltas: dict[Any, list[Any]] = defaultdict(_zeros)
        for state in touched.values():
            _add(deltas, self.contributions(state), sign=1)
        for key, values in before.items():
            _add(deltas, [(key, values)], sign=-1)
        changed = {k: v for k, v in deltas.items() if any(v[:-1]) or v[-1] is not None}
        self.write_deltas(generation, changed)

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        raise NotImplementedError

    def write_deltas(self, generation: int, deltas: dict[Any, list[Any]]) -> None:
        raise NotImplementedError


def _zeros() -> list[Any]:
    return [0, 0, 0, ZERO, 0, None]


def _add(totals: dict[Any, list[Any]], parts: Iterable[Contribution], sign: int) -> None:
    """Add (or subtract) counters; the last slot is a timestamp kept as a maximum."""
    for key, values in parts:
        slot = totals[key]
        for i in range(5):
            slot[i] += sign * values[i]
        if sign > 0 and values[5] is not None and (slot[5] is None or values[5] > slot[5]):
            slot[5] = values[5]


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class CustomerSummaries(_FactProjection):
    name: ClassVar[str] = "customer_summaries"
    fact_model = CustomerOrderFact
    tables = (CustomerOrderFact, CustomerSummary)

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        order = state.order
        cancelled = order.status is OrderStatus.CANCELLED
        # orders, open, cancelled, lifetime value, (unused), last order at
        yield (
            order.customer_id,
            [
                1,
                1 if order.status is OrderStatus.PENDING else 0,
                1 if cancelled else 0,
                ZERO if cancelled else order.total,
                0,
                state.created_at,
            ],
        )

    def write_deltas(self, generation: int, deltas: dict[Any, list[Any]]) -> None:
        tables.add(
            CustomerSummary,
            generation,
            [
                {
                    "customer_id": customer_id,
                    "order_count": d[0],
                    "open_order_count": d[1],
                    "cancelled_count": d[2],
                    "lifetime_value": d[3],
                    "last_order_at": d[5],
                }
                for customer_id, d in deltas.items()
            ],
            key="customer_id",
            sums=("order_count", "open_order_count", "cancelled_count", "lifetime_value"),
            latest=("last_order_at",),
        )


class DailySalesReport(_FactProjection):
    name: ClassVar[str] = "daily_sales"
    fact_model = SalesOrderFact
    tables = (SalesOrderFact, DailySales)

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        order = state.order
        assert state.created_at is not None
        counted = order.status is not OrderStatus.CANCELLED
        # placed, cancelled, shipped, revenue, items; revenue and items on the day placed.
        yield (
            _utc_date(state.created_at),
            [1, 0, 0, order.total if counted else ZERO, order.item_count if counted else 0, None],
        )
        if state.cancelled_at is not None:
            yield (_utc_date(state.cancelled_at), [0, 1, 0, ZERO, 0, None])
        if state.shipped_at is not None:
            yield (_utc_date(state.shipped_at), [0, 0, 1, ZERO, 0, None])

    def write_deltas(self, generation: int, deltas: dict[Any, list[Any]]) -> None:
        tables.add(
            DailySales,
            generation,
            [
                {
                    "date": day,
                    "orders_placed": d[0],
                    "orders_cancelled": d[1],
                    "orders_shipped": d[2],
                    "gross_revenue": d[3],
                    "items_sold": d[4],
                }
                for day, d in deltas.items()
            ],
            key="date",
            sums=(
                "orders_placed",
                "orders_cancelled",
                "orders_shipped",
                "gross_revenue",
                "items_sold",
            ),
        )


def register_all() -> None:
    for projection in (OrderViews(), CustomerSummaries(), DailySalesReport()):
        base.register(projection)
