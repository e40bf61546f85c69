"""Upcasters of the order events: old payloads read as the current schema version.

OrderItemAdded v1 → v2. A v1 event recorded only the units added (``quantity``, ``unit_price``)
and every replay worked out the order's line after it by the business rule. v2 records that line
(``line: {quantity, unit_price}``). The upcaster works it out once more, by the rule as it stood
when v1 events were written (``_v1_line_after_adding``, frozen here: the domain's rule may change,
these events' meaning may not). It needs the line *before* the add, which only the order's
earlier events tell: it is a stream upcaster (eventstore.upcasting.StreamUpcaster), folding the
lines of the stream's OrderCreated, OrderItemAdded and OrderItemRemoved events, each as it reads
today (an earlier v1 add upcast first). docs/evolving-events.md tells the whole story.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from eventstore.upcasting import Payload, StreamUpcaster, register_stream_upcaster

Lines = dict[str, tuple[int, str]]  # product id -> (quantity, unit price as stored)

LINE_EVENTS: Final = frozenset({"OrderCreated", "OrderItemAdded", "OrderItemRemoved"})


def _v1_line_after_adding(line: tuple[int, str] | None, quantity: int, unit_price: str) -> Any:
    """The rule v1 events were written under (orders.domain.model.line_after_adding at commit
    be4d7a5): quantities add up, the latest price applies. Never change it."""
    return (quantity if line is None else line[0] + quantity, unit_price)


def _new_lines() -> Lines:
    return {}


def see_line_event(lines: Lines, event_type: str, data: Payload) -> None:
    """Fold an order event (current schema) into the order's lines."""
    if event_type == "OrderCreated":
        lines.clear()
        for item in data["items"]:
            lines[item["product_id"]] = (int(item["quantity"]), str(item["unit_price"]))
    elif event_type == "OrderItemAdded":
        line = data["line"]
        lines[data["product_id"]] = (int(line["quantity"]), str(line["unit_price"]))
    elif event_type == "OrderItemRemoved":
        lines.pop(data["product_id"], None)


def item_added_v1_to_v2(lines: Lines, data: Payload) -> Payload:
    """v1 {order_id, product_id, quantity, unit_price} → v2, adding ``line``: the order's line
    of that product after the add, given its ``lines`` before."""
    quantity, unit_price = _v1_line_after_adding(
        lines.get(data["product_id"]), int(data["quantity"]), str(data["unit_price"])
    )
    # Stored as the domain writes a price (a two-place decimal string).
    return {**data, "line": {"quantity": quantity, "unit_price": str(Decimal(unit_price))}}


ITEM_ADDED_V1: Final = StreamUpcaster(
    event_type="OrderItemAdded",
    from_version=1,
    reads=LINE_EVENTS,
    new_context=_new_lines,
    see=see_line_event,
    upcast=item_added_v1_to_v2,
)


def register() -> None:
    """Called once by the orders app (OrdersConfig.ready)."""
    register_stream_upcaster(ITEM_ADDED_V1)
