"""The order repository on the event store: one stream per order, metadata on every event."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Final

from eventstore import store
from orders.domain.errors import ConcurrencyConflict, OrderNotFound, OrderUnreadable
from orders.domain.events import DomainEvent, event_from_stored
from orders.domain.handlers import CommandResult
from orders.domain.model import Order

STREAM_TYPE: Final = "Order"

logger = logging.getLogger(__name__)


def stream_id_for(order_id: uuid.UUID) -> str:
    return f"{STREAM_TYPE}-{order_id}"


def order_from_events(order_id: uuid.UUID, events: list[store.RecordedEvent]) -> Order:
    """The order its events make; OrderUnreadable (logged) if one of them does not fold."""
    current = events[0] if events else None

    def domain_events() -> Iterator[DomainEvent]:
        nonlocal current
        for current in events:
            yield event_from_stored(current.event_type, current.data)

    try:
        return Order.from_events(order_id, domain_events())
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


class EventStoreOrderRepository:
    """Loads orders from their streams and appends their new events with the given metadata."""

    def __init__(
        self, metadata: Mapping[str, Any], record: store.CommandRecord | None = None
    ) -> None:
        self.metadata = dict(metadata)
        self.record = record  # written with the append where the event store can
        self.record_written = False  # written with an append

    def get(self, order_id: uuid.UUID) -> Order:
        events = store.read_stream(stream_id_for(order_id))
        if not events:
            raise OrderNotFound(f"Order {order_id} does not exist.", order_id=str(order_id))
        return order_from_events(order_id, events)

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
                record=self.record,
            )
        except store.ConcurrencyError as exc:
            raise ConcurrencyConflict(
                f"Order {order.id} was changed by another request; reload and retry.",
                expected=order.version,
                actual=exc.actual,
            ) from exc
        self.record_written = result.record_written
        order.version = result.version
        order.pending = []
        return CommandResult(order.id, result.version, result.last_position)
