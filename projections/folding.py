"""Per-order state folded from log events with the domain's own rules (orders.domain.model)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from eventstore.store import RecordedEvent
from orders.domain.events import EVENT_TYPES, event_from_stored
from orders.domain.model import Order, OrderStatus
from orders.domain.values import Address, LineItem

ORDER_EVENT_TYPES = frozenset(EVENT_TYPES)


@dataclass
class OrderState:
    """An order as a read model sees it: the aggregate's state plus the events' timestamps."""

    order: Order
    created_at: datetime | None = None
    updated_at: datetime | None = None
    shipped_at: datetime | None = None
    cancelled_at: datetime | None = None
    version: int = 0
    is_new: bool = False

    def apply(self, event: RecordedEvent) -> None:
        self.order.apply(event_from_stored(event.event_type, event.data))
        at = event.recorded_at
        if event.event_type == "OrderCreated":
            self.created_at = at
        elif event.event_type == "OrderShipped":
            self.shipped_at = at
        elif event.event_type == "OrderCancelled":
            self.cancelled_at = at
        self.updated_at = at
        self.version = event.version


# A batch asks for the same orders' ids several times; parsing a UUID is not free.
_parse_uuid = lru_cache(maxsize=8192)(uuid.UUID)


def order_id_of(event: RecordedEvent) -> uuid.UUID:
    return _parse_uuid(event.data["order_id"])


def restore_order(
    order_id: uuid.UUID,
    *,
    customer_id: str,
    status: str,
    currency: str = "",
    lines: list[tuple[str, int, Decimal]],
    shipping_address: dict[str, Any] | None = None,
    cancel_reason: str | None = None,
    carrier: str = "",
    tracking_number: str = "",
) -> Order:
    """Rebuild an aggregate's state from a read-model row (no events replayed)."""
    order = Order(order_id)
    order.customer_id = customer_id
    order.status = OrderStatus(status)
    order.currency = currency
    order.lines = {pid: LineItem(pid, qty, Decimal(price)) for pid, qty, price in lines}
    order.shipping_address = Address.from_payload(shipping_address) if shipping_address else None
    order.cancel_reason = cancel_reason or ""
    order.carrier = carrier
    order.tracking_number = tracking_number
    return order


def lines_payload(order: Order) -> list[list[Any]]:
    return [[line.product_id, line.quantity, str(line.unit_price)] for line in order.lines.values()]
