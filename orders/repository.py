"""The order repository on the event store: one stream per order, metadata on every event."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from eventstore import store
from orders import snapshots
from orders.domain.errors import ConcurrencyConflict, OrderNotFound, OrderUnreadable
from orders.domain.events import DomainEvent, event_from_stored
from orders.domain.handlers import CommandResult
from orders.domain.model import Order

STREAM_TYPE: Final = "Order"

logger = logging.getLogger(__name__)


def stream_id_for(order_id: uuid.UUID) -> str:
    return f"{STREAM_TYPE}-{order_id}"


def order_from_events(
    order_id: uuid.UUID, events: list[store.RecordedEvent], start: Order | None = None
) -> Order:
    """The order its events make (folded onto ``start``, the order before the first of them,
    when given); OrderUnreadable (logged) if one of them does not fold."""
    current = events[0] if events else None

    def domain_events() -> Iterator[DomainEvent]:
        nonlocal current
        for current in events:
            yield event_from_stored(current.event_type, current.data)

    try:
        if start is None:
            return Order.from_events(order_id, domain_events())
        for event in domain_events():
            start.apply(event)
            start.version += 1
        return start
    except (LookupError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        assert current is not None
        logger.error(
            "order %s cannot be read: its %s at position %s does not fold (%r)",
            order_id,
            current.event_type,
            current.global_position,
            exc,
        )
        raise OrderUnreadable(
            f"Order {order_id} cannot be read: its event {current.version} "
            f"({current.event_type}) does not fold.",
            order_id=str(order_id),
            version=current.version,
        ) from exc


def load_order(
    order_id: uuid.UUID, *, version: int | None = None, at: datetime | None = None
) -> tuple[Order, list[store.RecordedEvent], snapshots.Snapshot | None, int]:
    """The order after its first ``version`` events (or those recorded by ``at``; all when
    neither is given): from its latest snapshot below that point plus the events after it.

    Returns the order, the events read (those after the snapshot), the snapshot (None if none
    was used) and the version of the event that set its shipping address (0: none).
    OrderNotFound when the order did not exist at that point.
    """
    stream_id = stream_id_for(order_id)
    snapshot = snapshots.latest(order_id, version=version, at=at)
    after = snapshot.version if snapshot is not None else 0
    if version is not None and version <= after:
        events: list[store.RecordedEvent] = []  # the snapshot is that very version
    else:
        events = store.read_stream(
            stream_id, from_version=after + 1, to_version=version, until=at, metadata=False
        )
    if snapshot is None:
        if not events:
            raise OrderNotFound(f"Order {order_id} does not exist.", order_id=str(order_id))
        order = order_from_events(order_id, events)
        address_version = snapshots.last_address_version(events, [e.version for e in events], 0)
        return order, events, None, address_version
    order = order_from_events(order_id, events, snapshot.order())
    address_version = snapshots.last_address_version(
        events, [e.version for e in events], snapshot.address_version
    )
    if address_version == snapshot.address_version and address_version:
        order.shipping_address = snapshots.address_at(stream_id, address_version)
    return order, events, snapshot, address_version


class EventStoreOrderRepository:
    """Loads orders from their streams (from their latest snapshot on), and appends their new
    events with the given metadata; a new snapshot is written after the commit when due."""

    def __init__(self, metadata: Mapping[str, Any], rider: store.Rider | None = None) -> None:
        self.metadata = dict(metadata)
        self.rider = rider  # written with the append where the event store can
        self.rider_wrote = False  # written with an append
        # Per order loaded: the version of the event that last set its address, and how many
        # events the load folded (those after its snapshot).
        self._address_versions: dict[uuid.UUID, int] = {}
        self._folded: dict[uuid.UUID, int] = {}

    def get(self, order_id: uuid.UUID) -> Order:
        order, events, _snapshot, address_version = load_order(order_id)
        self._address_versions[order_id] = address_version
        self._folded[order_id] = len(events)
        return order

    def save(self, order: Order) -> CommandResult:
        new_events = [
            store.NewEvent(
                event_type=e.event_type,
                data=e.to_payload(),
                metadata=self.metadata,
                schema_version=e.schema_version,
            )
            for e in order.pending
        ]
        try:
            result = store.append_to_stream(
                stream_id_for(order.id),
                STREAM_TYPE,
                new_events,
                expected_version=order.version or store.NO_STREAM,
                rider=self.rider,
            )
        except store.ConcurrencyError as exc:
            raise ConcurrencyConflict(
                f"Order {order.id} was changed by another request; reload and retry.",
                expected=order.version,
                actual=exc.actual,
            ) from exc
        self.rider_wrote = result.rider_wrote
        before, pending = order.version, order.pending
        order.version = result.version
        order.pending = []
        if snapshots.due(self._folded.get(order.id, 0) + len(pending)):
            address_version = snapshots.last_address_version(
                pending,
                range(before + 1, result.version + 1),
                self._address_versions.get(order.id, 0),
            )
            snapshots.take_after_commit(order, address_version, stream_id_for(order.id))
        return CommandResult(order.id, result.version, result.last_position)
