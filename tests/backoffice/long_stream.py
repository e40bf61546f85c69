"""Long order streams for the back office's tests: valid order events appended in chunks
through the event store (no command, no wake-up)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from eventstore import store
from orders.domain import events as ev
from orders.streams import STREAM_TYPE, stream_id_for
from tests.projections import builders as b

CHUNK = 2000
CITIES = ("Lisbon", "Porto", "Faro", "Braga")


def long_order_events(order_id: uuid.UUID, count: int) -> Iterator[ev.DomainEvent]:
    """An order created with one item, then items added and removed in turn, and every
    hundredth event a new address: ``count`` events, every one valid where it stands."""
    created = b.order_created(order_id, customer_id="long-customer", city=CITIES[0])
    units = {item.product_id: item.quantity for item in created.items}  # on the order now
    yield created
    for version in range(2, count + 1):
        product = f"part-{version % 400:03d}"
        if version % 100 == 0:
            address = b.address(CITIES[version // 100 % len(CITIES)])
            yield ev.ShippingAddressChanged(order_id=order_id, shipping_address=address)
        elif version % 2 == 0 or (version - 1) % 100 == 0:
            # (after an address change, an add instead of a remove)
            quantity, price = (1, "2.50") if version % 2 == 0 else (2, "1.25")
            on_order = units.get(product, 0)
            units[product] = on_order + quantity
            yield b.item_added(order_id, product, quantity, price, on_order=on_order)
        else:
            previous = f"part-{(version - 1) % 400:03d}"
            del units[previous]
            yield ev.OrderItemRemoved(order_id=order_id, product_id=previous)


def append_long_order(count: int, order_id: uuid.UUID | None = None) -> uuid.UUID:
    """Append a long order's ``count`` events, CHUNK per statement; returns its id."""
    order_id = order_id or uuid.uuid4()
    chunk: list[ev.DomainEvent] = []
    written = 0
    for event in long_order_events(order_id, count):
        chunk.append(event)
        if len(chunk) == CHUNK:
            store.append_to_stream(
                stream_id_for(order_id), STREAM_TYPE, b.new_events(chunk), expected_version=written
            )
            written += len(chunk)
            chunk = []
    if chunk:
        store.append_to_stream(
            stream_id_for(order_id), STREAM_TYPE, b.new_events(chunk), expected_version=written
        )
    return order_id
