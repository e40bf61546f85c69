"""A stream's timeline: its events in order, what each changed, and the state it left.

For an order stream the events are folded with the domain aggregate (orders.domain.model.Order),
so the page shows what the command side sees; "state at version N" is the API's temporal query
(orders.selectors.order_state_get). Other streams show their events only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse

from eventstore import store
from orders.domain.errors import DomainError
from orders.domain.events import event_from_stored
from orders.domain.model import Order
from orders.repository import STREAM_TYPE
from orders.selectors import order_state_get

State = dict[str, str]


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


def order_id_of(stream_id: str) -> uuid.UUID | None:
    """The order id of an order stream's id (``Order-<uuid>``), else None."""
    prefix = f"{STREAM_TYPE}-"
    if not stream_id.startswith(prefix):
        return None
    try:
        return uuid.UUID(stream_id.removeprefix(prefix))
    except ValueError:
        return None


def order_state(order: Order) -> State:
    """An order as field -> text, one field per line item: what the timeline compares."""
    state: State = {
        "status": order.status.value,
        "customer": order.customer_id,
        "currency": order.currency,
        "total": f"{order.total:.2f}",
        "units": str(order.item_count),
    }
    for line in order.lines.values():
        state[f"item {line.product_id}"] = f"{line.quantity} x {line.unit_price:.2f}"
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


def timeline(stream_id: str) -> list[Entry]:
    """The stream's events, each with what it changed in the order and the order after it.

    An event that does not fold (a payload the aggregate refuses) is shown with the error, and
    the events after it without states: the order's state from there on is unknown.
    """
    events = store.read_stream(stream_id)
    order_id = order_id_of(stream_id)
    entries = [Entry(event) for event in events]
    if order_id is None:
        return entries
    order = Order(order_id)
    before: State = {}
    for entry in entries:
        try:
            order.apply(event_from_stored(entry.event.event_type, entry.event.data))
        except Exception as exc:  # shown on the page: this event is why the state stops
            entry.error = f"{type(exc).__name__}: {exc}"
            break
        order.version += 1
        entry.state = order_state(order)
        entry.changes = changes(before, entry.state)
        before = entry.state
    return entries


def _version(request: HttpRequest) -> int | None:
    raw = request.GET.get("version", "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def timeline_view(site: admin.AdminSite, request: HttpRequest, stream_id: str) -> TemplateResponse:
    if not request.user.has_perm("eventstore.view_event"):
        raise PermissionDenied
    entries = timeline(stream_id)
    if not entries:
        raise Http404(f"No stream {stream_id!r} in the log.")
    order_id = order_id_of(stream_id)
    version = _version(request)
    as_of: State | None = None
    as_of_error = ""
    if order_id is not None and version is not None:
        try:
            as_of = order_state(order_state_get(order_id, version=version).order)
        except DomainError as exc:
            as_of_error = exc.message
        except Exception as exc:  # a payload that does not fold, as above
            as_of_error = f"{type(exc).__name__}: {exc}"
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": f"Timeline of {stream_id}",
        "stream_id": stream_id,
        "order_id": order_id,
        "entries": entries,
        "version": version,
        "as_of": as_of,
        "as_of_error": as_of_error,
    }
    return TemplateResponse(request, "backoffice/timeline.html", context)
