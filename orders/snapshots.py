"""Snapshots of the Order aggregate: its state saved once a command had to fold
ORDER_SNAPSHOT_EVERY events past the latest snapshot, so that loading a long order folds only
the events after its latest one.

- Taken from the aggregate a command has just saved, and written *after* the command commits
  (``transaction.on_commit``): the command never waits on it or fails with it (it runs once
  the command's transaction is over, in the same thread: one INSERT every N commands of a long
  order). A snapshot that cannot be written is logged (the order id, the version and the
  error's type: nothing of the order's content) and forgotten; the next command is due again.
- Tagged with ``Order.state_version``: a snapshot taken by an aggregate that folded events
  differently is ignored (never read; an older release may still use it).
- Free of personal data: the shipping address is left out; the state records which event set
  it (``address_version``) and a load reads that event again through the event store (in the
  same round trip as the events after the snapshot), as every read of the log: upcast, and
  erased fields erased. ``delete_snapshots_of_customer`` drops a customer's snapshots all the
  same.
- Kept: each order's latest, and about one per KEEP_ONE_PER versions (for ``state?version=``
  and ``?at=``, which start from the nearest snapshot below); a new snapshot deletes the one
  its load started from otherwise.
- Only ever a shortcut: the log stays the truth, and any snapshot can be deleted at any time.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Final

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.db import fetch
from eventstore import store
from orders.domain import events as ev
from orders.domain.events import event_from_stored
from orders.domain.model import Order, OrderStatus
from orders.domain.values import LineItem
from orders.models import OrderStateSnapshot

logger = logging.getLogger(__name__)

# Events that set an order's shipping address (what a snapshot leaves out).
ADDRESS_EVENTS: Final = frozenset(
    {ev.OrderCreated.event_type, ev.ShippingAddressChanged.event_type}
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    order_id: uuid.UUID
    version: int
    state: dict[str, Any]
    recorded_at: datetime

    @property
    def address_version(self) -> int:
        return int(self.state["address_version"])

    def order(self) -> Order:
        """A new Order as this snapshot saved it, its shipping address not set yet (see
        ``address_at``)."""
        state = self.state
        order = Order(self.order_id)
        order.version = self.version
        order.status = OrderStatus(state["status"])
        order.customer_id = state["customer_id"]
        order.currency = state["currency"]
        order.lines = {
            pid: LineItem(pid, int(quantity), Decimal(price))
            for pid, quantity, price in state["lines"]
        }
        order.carrier = state["carrier"]
        order.tracking_number = state["tracking_number"]
        order.cancel_reason = state["cancel_reason"]
        return order


def every() -> int:
    return int(settings.ORDER_SNAPSHOT_EVERY)


def due(events_since_snapshot: int) -> bool:
    """Whether an order that now has this many events after its latest snapshot (all of them
    when it has none) is due a new one: ORDER_SNAPSHOT_EVERY or more. So a long order written
    before snapshots existed (or whose snapshots were deleted) gets one at its next command."""
    n = every()
    return n > 0 and events_since_snapshot >= n


def state_of(order: Order, address_version: int) -> dict[str, Any]:
    """The saved form of ``order`` (without its shipping address)."""
    return {
        "status": order.status.value,
        "customer_id": order.customer_id,
        "currency": order.currency,
        "lines": [
            [line.product_id, line.quantity, str(line.unit_price)] for line in order.lines.values()
        ],
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "cancel_reason": order.cancel_reason,
        "address_version": address_version,
    }


_LATEST: Final = """
SELECT version, state, recorded_at FROM orders_snapshot
WHERE order_id = %s::uuid AND state_version = %s::int AND version <= %s::int
  AND recorded_at <= %s::timestamptz
ORDER BY version DESC LIMIT 1
"""
_MAX_VERSION: Final = 2**31 - 1


def latest(
    order_id: uuid.UUID, *, version: int | None = None, at: datetime | None = None
) -> Snapshot | None:
    """The order's latest snapshot of today's state version, at or below ``version`` and
    taken of an event recorded at or before ``at``."""
    if every() <= 0:
        return None
    if connection.vendor == "postgresql":  # every command asks: prepared, one round trip
        params = [order_id, Order.state_version, version or _MAX_VERSION, at or "infinity"]
        found = fetch(_LATEST, params)
        row = found[0] if found else None
    else:
        rows = OrderStateSnapshot.objects.filter(
            order_id=order_id, state_version=Order.state_version
        )
        if version is not None:
            rows = rows.filter(version__lte=version)
        if at is not None:
            rows = rows.filter(recorded_at__lte=at)
        row = rows.order_by("-version").values_list("version", "state", "recorded_at").first()
    if row is None:
        return None
    return Snapshot(order_id, row[0], row[1], row[2])


def address_at(stream_id: str, version: int) -> Any:
    """The shipping address set by the stream's event ``version`` (read through the store)."""
    [event] = store.read_stream(stream_id, from_version=version, to_version=version, metadata=False)
    return address_of(event)


def address_of(event: store.RecordedEvent) -> Any:
    """The shipping address ``event`` (read through the store) set."""
    return getattr(event_from_stored(event.event_type, event.data), "shipping_address", None)


def last_address_version(events: Sequence[Any], versions: Sequence[int], default: int) -> int:
    """The version of the last of ``events`` (with their ``versions``) that set the address."""
    found = default
    for event, version in zip(events, versions, strict=True):
        if event.event_type in ADDRESS_EVENTS:
            found = version
    return found


# Snapshots kept besides each order's latest: about one per this many versions (the nearest
# snapshot below any version, for state?version= and ?at=, is at most about this far).
KEEP_ONE_PER: Final = 1000


def take_after_commit(
    order: Order, address_version: int, recorded_at: datetime, replaces: int | None
) -> None:
    """Save ``order`` (just saved at ``order.version``, its last event recorded at
    ``recorded_at``) once the transaction commits; then delete the snapshot at version
    ``replaces`` (the one the command's load started from) unless it is kept as the first one
    of its thousand versions."""
    state = state_of(order, address_version)
    if replaces is not None and replaces % KEEP_ONE_PER < every():
        replaces = None  # kept: about the first past a multiple of KEEP_ONE_PER
    transaction.on_commit(
        partial(
            _write,
            order.id,
            order.version,
            customer_id=order.customer_id,
            state=state,
            recorded_at=recorded_at,
            replaces=replaces,
        )
    )


def _write(
    order_id: uuid.UUID,
    version: int,
    *,
    customer_id: str,
    state: dict[str, Any],
    recorded_at: datetime,
    replaces: int | None,
) -> None:
    try:
        # Statements of their own, in autocommit (on_commit runs once the command's
        # transaction is over): the new snapshot first, so one is always there.
        OrderStateSnapshot.objects.bulk_create(
            [
                OrderStateSnapshot(
                    order_id=order_id,
                    version=version,
                    state_version=Order.state_version,
                    customer_id=customer_id,
                    state=state,
                    recorded_at=recorded_at,
                    taken_at=timezone.now(),
                )
            ],
            ignore_conflicts=True,  # taken already (a command replayed, a race)
        )
        if replaces is not None:
            OrderStateSnapshot.objects.filter(
                order_id=order_id, state_version=Order.state_version, version=replaces
            ).delete()
    except Exception as exc:  # a snapshot is a shortcut: never fail for one
        # The error's type only: a database message may quote the row's values.
        logger.warning(
            "snapshot of order %s at version %s not written (%s)",
            order_id,
            version,
            type(exc).__name__,
        )


def delete_snapshots_of_customer(customer_id: str) -> int:
    """Delete every snapshot of ``customer_id``'s orders (for erasure); returns how many.

    They hold no personal field (the address is left out), so this is a belt to those braces.
    """
    deleted, _ = OrderStateSnapshot.objects.filter(customer_id=customer_id).delete()
    return deleted
