"""Reads that need only the log: an order's history and its state at a version or a time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventstore import store
from orders.domain.errors import InvalidCommand, OrderNotFound
from orders.domain.model import Order
from orders.repository import order_from_events, stream_id_for


def order_history_get(order_id: uuid.UUID) -> list[dict[str, Any]]:
    events = store.read_stream(stream_id_for(order_id))
    if not events:
        raise OrderNotFound(f"Order {order_id} does not exist.", order_id=str(order_id))
    return [
        {
            "position": e.global_position,
            "version": e.version,
            "event_type": e.event_type,
            "schema_version": e.schema_version,
            "data": e.data,
            "metadata": e.metadata,
            "recorded_at": e.recorded_at,
        }
        for e in events
    ]


def order_state_get(
    order_id: uuid.UUID, *, version: int | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """The order as it stood at ``version`` or at time ``at``, rebuilt from its events."""
    events = store.read_stream(stream_id_for(order_id), to_version=version, until=at)
    if not events:
        raise OrderNotFound(
            f"Order {order_id} did not exist at that point.", order_id=str(order_id)
        )
    if version is not None and events[-1].version < version:
        message = f"The order has only {events[-1].version} versions."
        raise InvalidCommand(message, version=[message])
    order = order_from_events(order_id, events)
    first_of = {e.event_type: e.recorded_at for e in reversed(events)}
    return order_view_dict(
        order,
        created_at=events[0].recorded_at,
        updated_at=events[-1].recorded_at,
        shipped_at=first_of.get("OrderShipped"),
        cancelled_at=first_of.get("OrderCancelled"),
    )


def order_view_dict(
    order: Order,
    *,
    created_at: datetime | None,
    updated_at: datetime | None,
    shipped_at: datetime | None,
    cancelled_at: datetime | None,
) -> dict[str, Any]:
    address = order.shipping_address.to_payload() if order.shipping_address else None
    return {
        "order_id": str(order.id),
        "customer_id": order.customer_id,
        "status": order.status.value,
        "currency": order.currency,
        "total_amount": str(order.total),
        "item_count": order.item_count,
        "items": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "line_total": str(line.line_total),
            }
            for line in order.lines.values()
        ],
        "shipping_address": address,
        "created_at": created_at,
        "updated_at": updated_at,
        "shipped_at": shipped_at,
        "cancelled_at": cancelled_at,
        "cancel_reason": order.cancel_reason or None,
        "version": order.version,
    }
