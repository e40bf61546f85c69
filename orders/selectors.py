"""Reads that need only the log: an order's history and its state at a version or a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from eventstore import store
from orders.domain.errors import InvalidCommand, OrderNotFound
from orders.domain.model import Order
from orders.domain.values import Address, LineItem
from orders.repository import order_from_events, stream_id_for


def order_history_get(order_id: uuid.UUID) -> list[store.RecordedEvent]:
    events = store.read_stream(stream_id_for(order_id))
    if not events:
        raise OrderNotFound(f"Order {order_id} does not exist.", order_id=str(order_id))
    return events


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order as it stood at some point, rebuilt from its events, with the times of the
    events that made it so: what an order view shows (orders.api.serializers.OrderViewOut)."""

    order: Order
    created_at: datetime
    updated_at: datetime
    shipped_at: datetime | None
    cancelled_at: datetime | None

    @property
    def order_id(self) -> uuid.UUID:
        return self.order.id

    @property
    def customer_id(self) -> str:
        return self.order.customer_id

    @property
    def status(self) -> str:
        return self.order.status.value

    @property
    def currency(self) -> str:
        return self.order.currency

    @property
    def total_amount(self) -> Decimal:
        return self.order.total

    @property
    def item_count(self) -> int:
        return self.order.item_count

    @property
    def items(self) -> list[LineItem]:
        return list(self.order.lines.values())

    @property
    def shipping_address(self) -> Address | None:
        return self.order.shipping_address

    @property
    def cancel_reason(self) -> str | None:
        return self.order.cancel_reason or None

    @property
    def version(self) -> int:
        return self.order.version


def order_state_get(
    order_id: uuid.UUID, *, version: int | None = None, at: datetime | None = None
) -> OrderSnapshot:
    """The order as it stood at ``version`` or at time ``at``, rebuilt from its events."""
    events = store.read_stream(stream_id_for(order_id), to_version=version, until=at)
    if not events:
        raise OrderNotFound(
            f"Order {order_id} did not exist at that point.", order_id=str(order_id)
        )
    if version is not None and events[-1].version < version:
        message = f"The order has only {events[-1].version} versions."
        raise InvalidCommand(message, version=[message])
    first_of = {e.event_type: e.recorded_at for e in reversed(events)}
    return OrderSnapshot(
        order_from_events(order_id, events),
        created_at=events[0].recorded_at,
        updated_at=events[-1].recorded_at,
        shipped_at=first_of.get("OrderShipped"),
        cancelled_at=first_of.get("OrderCancelled"),
    )
