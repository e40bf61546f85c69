"""Domain events, in the past tense, each with a stable stored name and schema version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from orders.domain.values import Address, LineItem


@dataclass(frozen=True)
class DomainEvent:
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    order_id: uuid.UUID

    def to_payload(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> DomainEvent:
        raise NotImplementedError


@dataclass(frozen=True)
class OrderCreated(DomainEvent):
    event_type: ClassVar[str] = "OrderCreated"

    customer_id: str
    currency: str
    items: tuple[LineItem, ...]
    shipping_address: Address

    def to_payload(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "customer_id": self.customer_id,
            "currency": self.currency,
            "items": [item.to_payload() for item in self.items],
            "shipping_address": self.shipping_address.to_payload(),
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> OrderCreated:
        return cls(
            order_id=uuid.UUID(data["order_id"]),
            customer_id=data["customer_id"],
            currency=data["currency"],
            items=tuple(LineItem.from_payload(i) for i in data["items"]),
            shipping_address=Address.from_payload(data["shipping_address"]),
        )


@dataclass(frozen=True)
class OrderItemAdded(DomainEvent):
    """Units of a product added: ``item`` as the command gave them, and the order's ``line``
    of that product as it stood after (the quantity and unit price the order now has).

    v2. A v1 event recorded only ``item``, and every replay worked the line out again by the
    business rule of the day; the upcaster from v1 (orders.upcasters) applies the rule of v1's
    time once. Folds read ``line`` and call no rule.
    """

    event_type: ClassVar[str] = "OrderItemAdded"
    schema_version: ClassVar[int] = 2

    item: LineItem
    line: LineItem

    def to_payload(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            **self.item.to_payload(),
            "line": {"quantity": self.line.quantity, "unit_price": str(self.line.unit_price)},
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> OrderItemAdded:
        item = LineItem.from_payload(data)
        line = data["line"]
        return cls(
            order_id=uuid.UUID(data["order_id"]),
            item=item,
            line=LineItem(item.product_id, int(line["quantity"]), Decimal(line["unit_price"])),
        )


@dataclass(frozen=True)
class OrderItemRemoved(DomainEvent):
    event_type: ClassVar[str] = "OrderItemRemoved"

    product_id: str

    def to_payload(self) -> dict[str, Any]:
        return {"order_id": str(self.order_id), "product_id": self.product_id}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> OrderItemRemoved:
        return cls(order_id=uuid.UUID(data["order_id"]), product_id=data["product_id"])


@dataclass(frozen=True)
class ShippingAddressChanged(DomainEvent):
    event_type: ClassVar[str] = "ShippingAddressChanged"

    shipping_address: Address

    def to_payload(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "shipping_address": self.shipping_address.to_payload(),
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> ShippingAddressChanged:
        return cls(
            order_id=uuid.UUID(data["order_id"]),
            shipping_address=Address.from_payload(data["shipping_address"]),
        )


@dataclass(frozen=True)
class OrderShipped(DomainEvent):
    event_type: ClassVar[str] = "OrderShipped"

    carrier: str
    tracking_number: str

    def to_payload(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> OrderShipped:
        return cls(
            order_id=uuid.UUID(data["order_id"]),
            carrier=data.get("carrier", ""),
            tracking_number=data.get("tracking_number", ""),
        )


@dataclass(frozen=True)
class OrderCancelled(DomainEvent):
    event_type: ClassVar[str] = "OrderCancelled"

    reason: str

    def to_payload(self) -> dict[str, Any]:
        return {"order_id": str(self.order_id), "reason": self.reason}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> OrderCancelled:
        return cls(order_id=uuid.UUID(data["order_id"]), reason=data["reason"])


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.event_type: cls
    for cls in (
        OrderCreated,
        OrderItemAdded,
        OrderItemRemoved,
        ShippingAddressChanged,
        OrderShipped,
        OrderCancelled,
    )
}


def event_from_stored(event_type: str, data: dict[str, Any]) -> DomainEvent:
    """Rebuild a domain event from its stored name and (already upcast) payload."""
    try:
        cls = EVENT_TYPES[event_type]
    except KeyError:
        raise ValueError(f"Unknown order event type {event_type!r}") from None
    return cls.from_payload(data)
