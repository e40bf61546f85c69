"""The Order aggregate: rebuilt from its events, checks the rules, records new events."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from orders.domain import events as ev
from orders.domain.errors import InvalidCommand, ItemNotFound, RuleViolation
from orders.domain.values import (
    MAX_DISTINCT_PRODUCTS,
    MAX_QUANTITY,
    Address,
    LineItem,
    checked_line,
)

CURRENCY_CODE_LENGTH = 3


class OrderStatus(StrEnum):
    PENDING = "pending"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class Order:
    """State of one order. ``version`` counts stored events; ``pending`` holds new ones."""

    # The version of what ``apply`` makes of the events: bump it whenever that changes (a new
    # field, an event folded differently). Saved states (orders.snapshots) of another version
    # are ignored, and the order is folded from its events again.
    state_version: ClassVar[int] = 1

    def __init__(self, order_id: uuid.UUID) -> None:
        self.id = order_id
        self.version = 0
        self.status = OrderStatus.PENDING
        self.customer_id = ""
        self.currency = ""
        self.lines: dict[str, LineItem] = {}
        self.shipping_address: Address | None = None
        self.carrier = ""
        self.tracking_number = ""
        self.cancel_reason = ""
        self.pending: list[ev.DomainEvent] = []

    # --- rebuilding -------------------------------------------------------------------------
    @classmethod
    def from_events(cls, order_id: uuid.UUID, history: Iterable[ev.DomainEvent]) -> Order:
        order = cls(order_id)
        for event in history:
            order.apply(event)
            order.version += 1
        return order

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines.values()), Decimal("0.00"))

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines.values())

    # --- decisions --------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        *,
        order_id: uuid.UUID,
        customer_id: str,
        items: Iterable[LineItem],
        shipping_address: Address,
        currency: str,
    ) -> Order:
        merged: dict[str, LineItem] = {}
        for item in items:
            line = checked_line(item)
            merged[line.product_id] = checked_line(_added(merged.get(line.product_id), line))
        if not merged:
            message = "An order needs at least one item."
            raise InvalidCommand(message, items=[message])
        if len(merged) > MAX_DISTINCT_PRODUCTS:
            message = f"An order holds at most {MAX_DISTINCT_PRODUCTS} distinct products."
            raise InvalidCommand(message, items=[message])
        if len(currency) != CURRENCY_CODE_LENGTH or not currency.isalpha():
            message = "currency must be a three-letter ISO 4217 code."
            raise InvalidCommand(message, currency=[message])
        order = cls(order_id)
        order._record(
            ev.OrderCreated(
                order_id=order_id,
                customer_id=customer_id,
                currency=currency.upper(),
                items=tuple(merged.values()),
                shipping_address=shipping_address,
            )
        )
        return order

    def add_item(self, item: LineItem) -> None:
        item = checked_line(item)
        self._require_open("add items to")
        existing = self.lines.get(item.product_id)
        line = _added(existing, item)
        if existing is None and len(self.lines) >= MAX_DISTINCT_PRODUCTS:
            raise RuleViolation(
                "too_many_products",
                f"An order holds at most {MAX_DISTINCT_PRODUCTS} distinct products.",
            )
        if existing is not None and line.quantity > MAX_QUANTITY:
            raise RuleViolation(
                "quantity_limit_exceeded",
                f"A line holds at most {MAX_QUANTITY} units; {item.product_id} has "
                f"{existing.quantity}.",
                product_id=item.product_id,
            )
        self._record(ev.OrderItemAdded(order_id=self.id, item=item, line=line))

    def remove_item(self, product_id: str) -> None:
        self._require_open("remove items from")
        if product_id not in self.lines:
            raise ItemNotFound(f"Product {product_id} is not on this order.", product_id=product_id)
        self._record(ev.OrderItemRemoved(order_id=self.id, product_id=product_id))

    def change_shipping_address(self, address: Address) -> None:
        self._require_open("change the address of")
        self._record(ev.ShippingAddressChanged(order_id=self.id, shipping_address=address))

    def ship(self, *, carrier: str, tracking_number: str) -> None:
        if self.status is OrderStatus.CANCELLED:
            raise RuleViolation("order_cancelled", "A cancelled order can't be shipped.")
        if self.status is OrderStatus.SHIPPED:
            raise RuleViolation("order_shipped", "The order has already been shipped.")
        if not self.lines:
            raise RuleViolation("order_empty", "An order with no items can't be shipped.")
        self._record(
            ev.OrderShipped(order_id=self.id, carrier=carrier, tracking_number=tracking_number)
        )

    def cancel(self, *, reason: str) -> None:
        if self.status is OrderStatus.SHIPPED:
            raise RuleViolation("order_shipped", "A shipped order can't be cancelled.")
        if self.status is OrderStatus.CANCELLED:
            raise RuleViolation("order_cancelled", "The order is already cancelled.")
        self._record(ev.OrderCancelled(order_id=self.id, reason=reason))

    def _require_open(self, action: str) -> None:
        if self.status is OrderStatus.SHIPPED:
            raise RuleViolation("order_shipped", f"Can't {action} a shipped order.")
        if self.status is OrderStatus.CANCELLED:
            raise RuleViolation("order_cancelled", f"Can't {action} a cancelled order.")

    def _record(self, event: ev.DomainEvent) -> None:
        self.apply(event)
        self.pending.append(event)

    # --- state changes, one per event type --------------------------------------------------
    def apply(self, event: ev.DomainEvent) -> None:
        _APPLY[type(event)](self, event)

    def _on_created(self, event: ev.OrderCreated) -> None:
        self.customer_id = event.customer_id
        self.currency = event.currency
        self.lines = {item.product_id: item for item in event.items}
        self.shipping_address = event.shipping_address

    def _on_item_added(self, event: ev.OrderItemAdded) -> None:
        # The line as recorded: a rule changed later does not rewrite it.
        self.lines[event.line.product_id] = event.line

    def _on_item_removed(self, event: ev.OrderItemRemoved) -> None:
        del self.lines[event.product_id]

    def _on_address_changed(self, event: ev.ShippingAddressChanged) -> None:
        self.shipping_address = event.shipping_address

    def _on_shipped(self, event: ev.OrderShipped) -> None:
        self.status = OrderStatus.SHIPPED
        self.carrier = event.carrier
        self.tracking_number = event.tracking_number

    def _on_cancelled(self, event: ev.OrderCancelled) -> None:
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = event.reason


def line_after_adding(
    line: Sequence[Any] | None, quantity: int, unit_price: Decimal
) -> tuple[int, Decimal]:
    """The rule for adding units of a product to a line ``(quantity, unit price)``, None if
    the product is not on the order: quantities add up, the latest price applies.

    Applied when an add is decided; its result is recorded in the event (OrderItemAdded v2),
    so no fold calls it and changing it changes only the adds decided afterwards.
    """
    return (quantity if line is None else line[0] + quantity, unit_price)


def _added(existing: LineItem | None, added: LineItem) -> LineItem:
    line = None if existing is None else (existing.quantity, existing.unit_price)
    return LineItem(added.product_id, *line_after_adding(line, added.quantity, added.unit_price))


_APPLY: dict[type[ev.DomainEvent], Callable[[Order, Any], None]] = {
    ev.OrderCreated: Order._on_created,
    ev.OrderItemAdded: Order._on_item_added,
    ev.OrderItemRemoved: Order._on_item_removed,
    ev.ShippingAddressChanged: Order._on_address_changed,
    ev.OrderShipped: Order._on_shipped,
    ev.OrderCancelled: Order._on_cancelled,
}
