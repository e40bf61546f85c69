"""Commands: what a client asks the order domain to do, in the imperative."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from orders.domain.values import Address, LineItem


@dataclass(frozen=True, kw_only=True)
class Command:
    """Every command is about one order (CreateOrder makes up its id when not given)."""

    command_id: uuid.UUID = field(default_factory=uuid.uuid4)
    order_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class OrderCommand(Command):
    """A command on an existing order; ``expected_version`` comes from If-Match when given."""

    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CreateOrder(Command):
    order_id: uuid.UUID = field(default_factory=uuid.uuid4)
    customer_id: str
    items: tuple[LineItem, ...]
    shipping_address: Address
    currency: str = "USD"


@dataclass(frozen=True, kw_only=True)
class AddOrderItem(OrderCommand):
    item: LineItem


@dataclass(frozen=True, kw_only=True)
class RemoveOrderItem(OrderCommand):
    product_id: str


@dataclass(frozen=True, kw_only=True)
class ChangeShippingAddress(OrderCommand):
    shipping_address: Address


@dataclass(frozen=True, kw_only=True)
class ShipOrder(OrderCommand):
    carrier: str = ""
    tracking_number: str = ""


@dataclass(frozen=True, kw_only=True)
class CancelOrder(OrderCommand):
    reason: str
