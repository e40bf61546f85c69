"""The order repository on the event store: one stream per order, metadata on every event."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Final

from eventstore import store
from eventstore.personal import register_personal_fields
from orders.domain.errors import (
    ConcurrencyConflict,
    CustomerForgotten,
    OrderNotFound,
    OrderUnreadable,
)
from orders.domain.events import DomainEvent, event_from_stored
from orders.domain.handlers import CommandResult
from orders.domain.model import Order
from orders.domain.values import PERSONAL_ADDRESS_FIELDS

STREAM_TYPE: Final = "Order"
_ADDRESS_PATHS: Final = tuple(f"shipping_address.{name}" for name in PERSONAL_ADDRESS_FIELDS)


def register_personal_data() -> None:
    """Tell the event store which fields of the order events are personal (sealed with the
    customer's key; "[erased]" once the customer is forgotten). Run once, at app start."""
    register_personal_fields("OrderCreated", _ADDRESS_PATHS, subject_field="customer_id")
    # Names no customer: the subject comes with the event (the order's customer).
    register_personal_fields("ShippingAddressChanged", _ADDRESS_PATHS)


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

    def __init__(self, metadata: Mapping[str, Any], rider: store.Rider | None = None) -> None:
        self.metadata = dict(metadata)
        self.rider = rider  # written with the append where the event store can
        self.rider_wrote = False  # written with an append

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
                subject=order.customer_id,
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
        except store.SubjectForgotten as exc:
            raise CustomerForgotten(
                f"Customer {order.customer_id} was forgotten: no new personal data of theirs "
                "is recorded.",
                customer_id=order.customer_id,
            ) from exc
        except store.ConcurrencyError as exc:
            raise ConcurrencyConflict(
                f"Order {order.id} was changed by another request; reload and retry.",
                expected=order.version,
                actual=exc.actual,
            ) from exc
        self.rider_wrote = result.rider_wrote
        order.version = result.version
        order.pending = []
        return CommandResult(order.id, result.version, result.last_position)
