"""Reads that need only the log: an order's history and its state at a version or a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from eventstore import store
from eventstore.models import Event
from orders.domain import events as ev
from orders.domain.errors import InvalidCommand, OrderNotFound
from orders.domain.model import Order
from orders.domain.values import Address, LineItem
from orders.repository import load_order
from orders.streams import stream_id_for

MAX_VERSION = 2**31 - 1  # the log's version column is an integer


@dataclass(frozen=True, slots=True)
class HistoryPage:
    events: list[store.RecordedEvent]
    next_version: int | None  # where the next page starts, None when no more events follow


def order_history_get(
    order_id: uuid.UUID, *, from_version: int = 1, limit: int = 1000
) -> HistoryPage:
    """The order's events from version ``from_version``, at most ``limit`` of them (one read of
    ``limit`` + 1 on the (stream_id, version) key: a page costs the same at any depth)."""
    stream_id = stream_id_for(order_id)
    # One more than the page, to tell whether more follow (no version is above MAX_VERSION).
    to_version = min(from_version + limit, MAX_VERSION)
    events = store.read_stream(stream_id, from_version=from_version, to_version=to_version)
    if not events and store.current_version(stream_id) == 0:
        raise OrderNotFound(f"Order {order_id} does not exist.", order_id=str(order_id))
    if len(events) > limit:
        return HistoryPage(events[:limit], from_version + limit)
    return HistoryPage(events, None)


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
    """The order as it stood at ``version`` or at time ``at``, rebuilt from its events (from
    the nearest snapshot below that point on, when there is one)."""
    try:
        order, events, snapshot, _ = load_order(order_id, version=version, at=at)
    except OrderNotFound:
        raise OrderNotFound(
            f"Order {order_id} did not exist at that point.", order_id=str(order_id)
        ) from None
    if version is not None and order.version < version:
        message = f"The order has only {order.version} versions."
        raise InvalidCommand(message, version=[message])
    if snapshot is None:
        first_of = {e.event_type: e.recorded_at for e in reversed(events)}
        return OrderSnapshot(
            order,
            created_at=events[0].recorded_at,
            updated_at=events[-1].recorded_at,
            shipped_at=first_of.get("OrderShipped"),
            cancelled_at=first_of.get("OrderCancelled"),
        )
    # The times of the events before the snapshot: the first event's, and those of the
    # (at most one each) shipped and cancelled events, read on the (stream_id, version) key.
    first_of = _first_recorded(stream_id_for(order_id), order.version)
    return OrderSnapshot(
        order,
        created_at=first_of["created"],
        updated_at=events[-1].recorded_at if events else snapshot.recorded_at,
        shipped_at=first_of.get(ev.OrderShipped.event_type),
        cancelled_at=first_of.get(ev.OrderCancelled.event_type),
    )


def _first_recorded(stream_id: str, version: int) -> dict[str, datetime]:
    """When the stream's first event was recorded ("created"), and its first OrderShipped and
    OrderCancelled up to ``version``."""
    found: dict[str, datetime] = {}
    rows = (
        Event.objects.filter(stream_id=stream_id, version__lte=version)
        .filter(
            Q(version=1)
            | Q(event_type__in=(ev.OrderShipped.event_type, ev.OrderCancelled.event_type))
        )
        .order_by("version")
        .values_list("version", "event_type", "recorded_at")
    )
    for number, event_type, recorded_at in rows:
        found.setdefault("created" if number == 1 else event_type, recorded_at)
    return found
