"""A stream's timeline and history, a page at a time, newest first; and the streams lately
changed.

For an order stream the timeline folds the events with the domain aggregate
(orders.domain.model.Order), so each entry shows what the event changed in the order as the
command side sees it, and the order after it. A page of a long stream needs the order as it
stood before the page's first event: folding the thousands of events before it on every view
costs more than a page may (docs/decisions.md, "Paged timelines"), so the fold keeps the order
it reached every CHECKPOINT_EVERY versions in Django's cache and a later page starts from the
nearest one below it, or from the commands' nearest snapshot of the order (orders.snapshots)
where that is nearer (a fresh process keeps none yet). The log never changes, so a kept state
stays true; it is kept without the shipping address (personal data, which erasure must be able
to remove): the address is read again from the last event that set it.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from django.core.cache import cache

from eventstore import store
from eventstore.models import Event
from orders import snapshots
from orders.domain import events as ev
from orders.domain.events import event_from_stored
from orders.domain.model import Order
from orders.streams import STREAM_TYPE

State = dict[str, str]

PAGE_SIZE: Final = 50
CHECKPOINT_EVERY: Final = 1000
CHECKPOINT_SECONDS: Final = 3600
# Events that set an order's shipping address (what a kept state leaves out).
ADDRESS_EVENTS: Final = (ev.OrderCreated.event_type, ev.ShippingAddressChanged.event_type)
# How staff call each event of an order.
TITLES: Final = {
    ev.OrderCreated.event_type: "Order created",
    ev.OrderItemAdded.event_type: "Item added",
    ev.OrderItemRemoved.event_type: "Item removed",
    ev.ShippingAddressChanged.event_type: "Address changed",
    ev.OrderShipped.event_type: "Shipped",
    ev.OrderCancelled.event_type: "Cancelled",
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None
    after: str | None


@dataclass
class Entry:
    """One event of the timeline, with the change it made (orders only)."""

    event: store.RecordedEvent
    changes: list[Change] = field(default_factory=list)
    state: State | None = None
    error: str = ""

    @property
    def title(self) -> str:
        return TITLES.get(self.event.event_type, self.event.event_type)

    @property
    def actor(self) -> str:
        return str(self.event.metadata.get("actor") or "—")


@dataclass(frozen=True)
class Window:
    """Which versions a page shows: ``top`` down to ``bottom``, of ``last`` in the stream."""

    top: int
    bottom: int
    last: int
    size: int

    @property
    def newer(self) -> int | None:
        return min(self.top + self.size, self.last) if self.top < self.last else None

    @property
    def older(self) -> int | None:
        return self.bottom - 1 if self.bottom > 1 else None

    @property
    def oldest(self) -> int | None:
        return min(self.size, self.last) if self.bottom > 1 else None


@dataclass
class TimelinePage:
    stream_id: str
    order_id: uuid.UUID | None
    window: Window
    entries: list[Entry]  # newest first
    # Why the order's state before this page is unknown (an event that does not fold).
    unknown_before: str = ""


def order_id_of(stream_id: str) -> uuid.UUID | None:
    """The order id of an order stream's id (``Order-<uuid>``), else None."""
    prefix = f"{STREAM_TYPE}-"
    if not stream_id.startswith(prefix):
        return None
    try:
        return uuid.UUID(stream_id.removeprefix(prefix))
    except ValueError:
        return None


def window(stream_id: str, to: int | None, size: int = PAGE_SIZE) -> Window | None:
    """The page ending at version ``to`` (the newest when None or beyond the stream), or None
    when the stream does not exist."""
    last = store.current_version(stream_id)
    if last == 0:
        return None
    top = last if to is None else max(1, min(to, last))
    return Window(top=top, bottom=max(1, top - size + 1), last=last, size=size)


def timeline_page(stream_id: str, to: int | None) -> TimelinePage | None:
    """The page of ``stream_id``'s timeline ending at version ``to``; None if no such stream.

    An event that does not fold (a payload the aggregate refuses) is shown with the error, and
    the events after it without states: the order's state from there on is unknown.
    """
    where = window(stream_id, to)
    if where is None:
        return None
    events = store.read_stream(stream_id, from_version=where.bottom, to_version=where.top)
    page = TimelinePage(stream_id, order_id_of(stream_id), where, [Entry(e) for e in events])
    if page.order_id is not None:
        try:
            order = order_at(page.order_id, stream_id, where.bottom - 1)
        except Exception as exc:  # shown on the page: why the states are unknown
            page.unknown_before = f"{type(exc).__name__}: {exc}"
        else:
            _fold_entries(order, page.entries)
    page.entries.reverse()
    return page


def history_page(stream_id: str, to: int | None) -> tuple[Window, list[Entry]] | None:
    """A page of the stream's events, newest first, without folding (the order's history)."""
    where = window(stream_id, to)
    if where is None:
        return None
    events = store.read_stream(stream_id, from_version=where.bottom, to_version=where.top)
    return where, [Entry(e) for e in reversed(events)]


def order_state(order: Order) -> State:
    """An order as field -> text, one field per line item: what the timeline compares."""
    state: State = {
        "status": order.status.value,
        "customer": order.customer_id,
        "currency": order.currency,
        "total": f"{order.total:,.2f}",
        "units": f"{order.item_count:,}",
    }
    for line in order.lines.values():
        state[f"item {line.product_id}"] = f"{line.quantity:,} x {line.unit_price:,.2f}"
    if order.shipping_address is not None:
        address = order.shipping_address
        parts = (address.line1, address.line2, address.postal_code, address.city, address.country)
        state["shipping address"] = ", ".join(p for p in parts if p)
    for name, value in (
        ("carrier", order.carrier),
        ("tracking number", order.tracking_number),
        ("cancel reason", order.cancel_reason),
    ):
        if value:
            state[name] = value
    return state


def changes(before: State, after: State) -> list[Change]:
    keys = list(before) + [k for k in after if k not in before]
    return [Change(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


def _fold_entries(order: Order, entries: list[Entry]) -> None:
    before = order_state(order) if order.version else {}
    for entry in entries:
        try:
            order.apply(event_from_stored(entry.event.event_type, entry.event.data))
        except Exception as exc:  # shown on the page: this event is why the state stops
            entry.error = f"{type(exc).__name__}: {exc}"
            return
        order.version += 1
        entry.state = order_state(order)
        entry.changes = changes(before, entry.state)
        before = entry.state


# --- the order at a version, from the nearest kept state --------------------------------------
def order_at(order_id: uuid.UUID, stream_id: str, version: int) -> Order:
    """The order after its first ``version`` events, folded by the domain aggregate from the
    nearest state kept below it (keeping the states it passes on the way)."""
    order = Order(order_id)
    if version <= 0:
        return order
    anchor = _anchor(stream_id)
    kept = _nearest_kept(stream_id, anchor, version)
    # The commands' snapshots (orders.snapshots) are there in a fresh process too: the first
    # view of a long order folds from the nearest of them, not from the stream's start.
    snapshot = snapshots.latest(order_id, version=version)
    if snapshot is not None and (kept is None or snapshot.version > kept.version):
        order = snapshot.order()
        if snapshot.address_version:
            order.shipping_address = snapshots.address_at(stream_id, snapshot.address_version)
    elif kept is not None:
        order = kept
        order.shipping_address = _address_at(stream_id, order.version)
    for event_type, data in store.read_stream_payloads(
        stream_id, from_version=order.version + 1, to_version=version
    ):
        order.apply(event_from_stored(event_type, data))
        order.version += 1
        if order.version % CHECKPOINT_EVERY == 0:
            _keep(stream_id, anchor, order)
    return order


def _anchor(stream_id: str) -> str:
    """What tells this stream from another of the same id (a database made again): the id of
    its first event."""
    # Ordered by version, so that the (stream_id, version) key answers: ordered by position,
    # PostgreSQL walked the primary key through the whole log (480 ms at 1,000,000 events).
    first = (
        Event.objects.filter(stream_id=stream_id, version=1)
        .order_by("version")
        .values_list("event_id", flat=True)
        .first()
    )
    return str(first) if first else ""


def _key(stream_id: str, anchor: str, version: int) -> str:
    return f"backoffice:order-at:{anchor}:{version}:{stream_id}"[:250]


def _nearest_kept(stream_id: str, anchor: str, version: int) -> Order | None:
    below = range(version - version % CHECKPOINT_EVERY, 0, -CHECKPOINT_EVERY)
    keys = [_key(stream_id, anchor, v) for v in below]
    found = cache.get_many(keys)
    for key in keys:  # highest first
        if key in found:
            order: Order = found[key]
            return order
    return None


def _keep(stream_id: str, anchor: str, order: Order) -> None:
    kept = copy.copy(order)
    kept.lines = dict(order.lines)
    kept.pending = []
    kept.shipping_address = None  # personal: read again from the log (_address_at)
    cache.set(_key(stream_id, anchor, order.version), kept, CHECKPOINT_SECONDS)


def _address_at(stream_id: str, version: int) -> Any:
    """The shipping address the order had after ``version`` events: from the last event up to
    there that set one (read through the store, as every event is)."""
    # Walked back from ``version`` on the (stream_id, version) key to the first one found.
    found = (
        Event.objects.filter(
            stream_id=stream_id, version__lte=version, event_type__in=ADDRESS_EVENTS
        )
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    if found is None:
        return None
    last = int(found)
    [(event_type, data)] = store.read_stream_payloads(stream_id, from_version=last, to_version=last)
    return getattr(event_from_stored(event_type, data), "shipping_address", None)


# --- the streams lately changed -----------------------------------------------------------------
RECENT_EVENTS: Final = 2000


@dataclass(frozen=True)
class StreamRow:
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    recorded_at: datetime
    actor: str


def recent_streams(limit: int = 50, stream_type: str = "") -> list[StreamRow]:
    """The streams of the newest RECENT_EVENTS events (by position, from the primary key), each
    once with its latest event there, most recently changed first."""
    events = Event.objects.order_by("-global_position")
    if stream_type:
        events = events.filter(stream_type=stream_type)
    seen: dict[str, StreamRow] = {}
    for row in events.values(
        "stream_id", "stream_type", "version", "event_type", "recorded_at", "metadata__actor"
    )[:RECENT_EVENTS]:
        if row["stream_id"] not in seen:
            seen[row["stream_id"]] = StreamRow(
                row["stream_id"],
                row["stream_type"],
                row["version"],
                row["event_type"],
                row["recorded_at"],
                str(row["metadata__actor"] or "—"),
            )
            if len(seen) == limit:
                break
    return list(seen.values())
