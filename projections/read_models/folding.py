"""Per-order state folded from log events, for the read models.

The effects are the aggregate's (orders.domain.model.Order.apply) on plain values, and its
rules are called, not restated (``line_after_adding``): events in the log were checked by the
domain when they were decided, so folding trusts them and needs no value objects. A payload
that does not fit (a missing field, an item removed that was never added) raises, and the
runner treats the event as poison.
tests/projections/test_folding.py checks that this fold and the aggregate agree.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from eventstore.store import RecordedEvent
from orders.domain.events import EVENT_TYPES
from orders.domain.model import OrderStatus, line_after_adding

ORDER_EVENT_TYPES = frozenset(EVENT_TYPES)
PENDING, SHIPPED, CANCELLED = (
    OrderStatus.PENDING.value,
    OrderStatus.SHIPPED.value,
    OrderStatus.CANCELLED.value,
)
ZERO = Decimal("0.00")

# Orders are keyed by their id as the log writes it (str(UUID)): cheaper to hash than a UUID.
OrderId = str
# product id -> [quantity, unit price]; insertion order is the order's line order.
Lines = dict[str, list[Any]]


class OrderState:
    """One order as the read models see it: the aggregate's state plus the events' timestamps."""

    __slots__ = (
        "cancel_reason",
        "cancelled_at",
        "carrier",
        "created_at",
        "currency",
        "customer_id",
        "is_new",
        "lines",
        "lines_changed",
        "order_id",
        "shipped_at",
        "shipping_address",
        "status",
        "tracking_number",
        "updated_at",
        "version",
    )

    def __init__(self, order_id: OrderId, **values: Any) -> None:
        self.order_id = order_id
        self.customer_id: str = values.get("customer_id", "")
        self.status: str = values.get("status", PENDING)
        self.currency: str = values.get("currency", "")
        self.lines: Lines = values.get("lines", {})
        self.shipping_address: dict[str, Any] = values.get("shipping_address") or {}
        self.cancel_reason: str = values.get("cancel_reason") or ""
        self.carrier: str = values.get("carrier", "")
        self.tracking_number: str = values.get("tracking_number", "")
        self.created_at: datetime | None = values.get("created_at")
        self.updated_at: datetime | None = values.get("updated_at")
        self.shipped_at: datetime | None = values.get("shipped_at")
        self.cancelled_at: datetime | None = values.get("cancelled_at")
        self.version: int = values.get("version", 0)
        self.is_new = False  # created by the batch being folded: no rows of it exist yet
        self.lines_changed = False  # its item rows must be rewritten

    @property
    def total(self) -> Decimal:
        return sum((price * quantity for quantity, price in self.lines.values()), ZERO)

    @property
    def item_count(self) -> int:
        return sum(quantity for quantity, _price in self.lines.values())

    def lines_payload(self) -> list[list[Any]]:
        return [[pid, quantity, str(price)] for pid, (quantity, price) in self.lines.items()]


def lines_from_payload(rows: Iterable[Sequence[Any]]) -> Lines:
    return {pid: [int(quantity), Decimal(price)] for pid, quantity, price in rows}


def _created(state: OrderState, data: dict[str, Any], at: datetime) -> None:
    state.customer_id = data["customer_id"]
    state.currency = data["currency"]
    state.lines = {
        item["product_id"]: [item["quantity"], Decimal(item["unit_price"])]
        for item in data["items"]
    }
    state.shipping_address = data["shipping_address"]
    state.created_at = at
    state.lines_changed = True


def _item_added(state: OrderState, data: dict[str, Any], at: datetime) -> None:
    product_id = data["product_id"]
    state.lines[product_id] = list(
        line_after_adding(
            state.lines.get(product_id), data["quantity"], Decimal(data["unit_price"])
        )
    )
    state.lines_changed = True


def _item_removed(state: OrderState, data: dict[str, Any], at: datetime) -> None:
    del state.lines[data["product_id"]]
    state.lines_changed = True


def _address_changed(state: OrderState, data: dict[str, Any], at: datetime) -> None:
    state.shipping_address = data["shipping_address"]


def _shipped(state: OrderState, data: dict[str, Any], at: datetime) -> None:
    state.status = SHIPPED
    state.carrier = data.get("carrier", "")
    state.tracking_number = data.get("tracking_number", "")
    state.shipped_at = at


def _cancelled(state: OrderState, data: dict[str, Any], at: datetime) -> None:
    state.status = CANCELLED
    state.cancel_reason = data["reason"]
    state.cancelled_at = at


_APPLY: dict[str, Callable[[OrderState, dict[str, Any], datetime], None]] = {
    "OrderCreated": _created,
    "OrderItemAdded": _item_added,
    "OrderItemRemoved": _item_removed,
    "ShippingAddressChanged": _address_changed,
    "OrderShipped": _shipped,
    "OrderCancelled": _cancelled,
}
assert set(_APPLY) == ORDER_EVENT_TYPES, "every order event type needs a fold"


def order_id_of(event: RecordedEvent) -> OrderId:
    return event.data["order_id"]  # type: ignore[no-any-return]


def orders_to_load(events: Sequence[RecordedEvent]) -> set[OrderId]:
    """The orders a batch touches but does not create: their rows must be read first."""
    created = {order_id_of(e) for e in events if e.event_type == "OrderCreated"}
    return {order_id_of(e) for e in events} - created


def fold(
    events: Sequence[RecordedEvent], states: dict[OrderId, OrderState]
) -> dict[OrderId, OrderState]:
    """Apply ``events`` to ``states`` (adding the orders they create); returns those touched.

    Touched orders move to the end of ``states``, so its first entries are the least recently
    used (see StateCache).
    """
    touched: dict[OrderId, OrderState] = {}
    for event in events:
        order_id = order_id_of(event)
        state = touched.get(order_id)
        if state is None:
            state = states.pop(order_id, None)
            if state is None:
                if event.event_type != "OrderCreated":
                    raise ValueError(
                        f"{event.event_type} at position {event.global_position} is for order "
                        f"{order_id}, which this projection has never seen created"
                    )
                state = OrderState(order_id)
                state.is_new = True
            else:
                state.is_new = state.lines_changed = False
            states[order_id] = touched[order_id] = state
        _APPLY[event.event_type](state, event.data, event.recorded_at)
        state.updated_at = event.recorded_at
        state.version = event.version
    return touched


class StateCache:
    """The order states a worker folded in its last batches, kept for its next ones.

    A projection that finds an order here need not read its rows back. The states are reused
    only for a batch that ``continues`` the last one this thread folded (the engine says so:
    it starts where that one ended, nobody has written the generation since, and nothing of
    it was lost); otherwise the batch starts empty (a batch that rolled back may have left its
    changes here). Kept per thread, for the two generations used last, holding at most
    ``capacity`` orders each (least recently used go first).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._local = threading.local()

    def _slots(self) -> OrderedDict[int, dict[OrderId, OrderState]]:
        slots: OrderedDict[int, dict[OrderId, OrderState]] | None = getattr(
            self._local, "slots", None
        )
        if slots is None:
            slots = self._local.slots = OrderedDict()
        return slots

    def states(self, generation: int, *, continues: bool) -> dict[OrderId, OrderState]:
        """The states to fold a batch of ``generation`` into: those kept if it ``continues``
        the last one, else none."""
        slots = self._slots()
        states = slots.get(generation)
        if states is None or not continues:
            states = slots[generation] = {}
        slots.move_to_end(generation)
        while len(slots) > 2:
            slots.popitem(last=False)
        return states

    def trim(self, generation: int) -> None:
        """Keep the ``capacity`` most recently folded states of ``generation``."""
        states = self._slots().get(generation)
        if states is None:
            return
        for order_id in list(islice(states, max(0, len(states) - self.capacity))):
            del states[order_id]
