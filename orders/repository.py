"""The order repository on the event store: one stream per order, metadata on every event."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from eventstore import store
from eventstore.personal import register_personal_fields
from orders import snapshots
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
from orders.streams import STREAM_TYPE, stream_id_for

_ADDRESS_PATHS: Final = tuple(f"shipping_address.{name}" for name in PERSONAL_ADDRESS_FIELDS)


def register_personal_data() -> None:
    """Tell the event store which fields of the order events are personal (sealed with the
    customer's key; "[erased]" once the customer is forgotten). Run once, at app start."""
    register_personal_fields("OrderCreated", _ADDRESS_PATHS, subject_field="customer_id")
    # Names no customer: the subject comes with the event (the order's customer).
    register_personal_fields("ShippingAddressChanged", _ADDRESS_PATHS)


logger = logging.getLogger(__name__)


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
    if snapshot is None:
        events = store.read_stream(stream_id, to_version=version, until=at, metadata=False)
        if not events:
            raise OrderNotFound(f"Order {order_id} does not exist.", order_id=str(order_id))
        order = order_from_events(order_id, events)
        address_version = snapshots.last_address_version(events, [e.version for e in events], 0)
        return order, events, None, address_version
    # The events after the snapshot, and the one that set the address it left out: one round
    # trip (the snapshot is that very version: only the latter).
    address_version = snapshot.address_version
    if version is not None and version <= snapshot.version:
        read = store.read_stream(
            stream_id, from_version=address_version, to_version=address_version, metadata=False
        )
    else:
        read = store.read_stream(
            stream_id,
            from_version=snapshot.version + 1,
            to_version=version,
            until=at,
            metadata=False,
            also=address_version or None,
        )
    address_event = read[0] if read and read[0].version == address_version else None
    events = read[1:] if address_event is not None else read
    order = order_from_events(order_id, events, snapshot.order())
    latest_address = snapshots.last_address_version(
        events, [e.version for e in events], address_version
    )
    if latest_address == address_version and address_event is not None:
        order.shipping_address = snapshots.address_of(address_event)
    return order, events, snapshot, latest_address


class EventStoreOrderRepository:
    """Loads orders from their streams (from their latest snapshot on), and appends their new
    events with the given metadata; a new snapshot is written after the commit when due."""

    def __init__(
        self, metadata: Mapping[str, Any], record: store.CommandRecord | None = None
    ) -> None:
        self.metadata = dict(metadata)
        self.record = record  # written with the append where the event store can
        self.record_written = False  # written with an append
        # Per order loaded: the version of the event that last set its address, how many
        # events the load folded (those after its snapshot) and the snapshot's version.
        self._loaded: dict[uuid.UUID, tuple[int, int, int | None]] = {}

    def get(self, order_id: uuid.UUID) -> Order:
        order, events, snapshot, address_version = load_order(order_id)
        self._loaded[order_id] = (
            address_version,
            len(events),
            None if snapshot is None else snapshot.version,
        )
        return order

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
                record=self.record,
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
        self.record_written = result.record_written
        before, pending = order.version, order.pending
        order.version = result.version
        order.pending = []
        address_version, folded, snapshot_version = self._loaded.get(order.id, (0, 0, None))
        if snapshots.due(folded + len(pending)) and result.recorded_at is not None:
            address_version = snapshots.last_address_version(
                pending, range(before + 1, result.version + 1), address_version
            )
            snapshots.take_after_commit(
                order, address_version, result.recorded_at, snapshot_version
            )
        return CommandResult(order.id, result.version, result.last_position)
