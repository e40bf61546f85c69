"""Command handlers (load → decide → save), one per command type, and ``handle`` routing to them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Protocol

from common.dispatch import HandlerMap, handler_for
from orders.domain import commands as cmd
from orders.domain.errors import VersionMismatch
from orders.domain.model import Order


@dataclass(frozen=True, slots=True)
class CommandResult:
    order_id: uuid.UUID
    version: int
    position: int


class OrderRepository(Protocol):
    """Where orders live: an event store in production, a dict in unit tests."""

    def get(self, order_id: uuid.UUID) -> Order:
        """The order rebuilt from its events; raises OrderNotFound."""
        ...

    def save(self, order: Order) -> CommandResult:
        """Append ``order.pending`` expecting ``order.version``; raises ConcurrencyConflict."""
        ...


def _load(orders: OrderRepository, command: cmd.OrderCommand) -> Order:
    order = orders.get(command.order_id)
    if command.expected_version is not None and command.expected_version != order.version:
        raise VersionMismatch(expected=command.expected_version, actual=order.version)
    return order


def handle_create_order(command: cmd.CreateOrder, orders: OrderRepository) -> CommandResult:
    order = Order.create(
        order_id=command.order_id,
        customer_id=command.customer_id,
        items=command.items,
        shipping_address=command.shipping_address,
        currency=command.currency,
    )
    return orders.save(order)


def handle_add_order_item(command: cmd.AddOrderItem, orders: OrderRepository) -> CommandResult:
    order = _load(orders, command)
    order.add_item(command.item)
    return orders.save(order)


def handle_remove_order_item(
    command: cmd.RemoveOrderItem, orders: OrderRepository
) -> CommandResult:
    order = _load(orders, command)
    order.remove_item(command.product_id)
    return orders.save(order)


def handle_change_shipping_address(
    command: cmd.ChangeShippingAddress, orders: OrderRepository
) -> CommandResult:
    order = _load(orders, command)
    order.change_shipping_address(command.shipping_address)
    return orders.save(order)


def handle_ship_order(command: cmd.ShipOrder, orders: OrderRepository) -> CommandResult:
    order = _load(orders, command)
    order.ship(carrier=command.carrier, tracking_number=command.tracking_number)
    return orders.save(order)


def handle_cancel_order(command: cmd.CancelOrder, orders: OrderRepository) -> CommandResult:
    order = _load(orders, command)
    order.cancel(reason=command.reason)
    return orders.save(order)


# Each command type and the one handler that decides it.
HANDLERS: Final[HandlerMap[cmd.Command, CommandResult]] = {
    cmd.CreateOrder: handle_create_order,
    cmd.AddOrderItem: handle_add_order_item,
    cmd.RemoveOrderItem: handle_remove_order_item,
    cmd.ChangeShippingAddress: handle_change_shipping_address,
    cmd.ShipOrder: handle_ship_order,
    cmd.CancelOrder: handle_cancel_order,
}


def handle(command: cmd.Command, orders: OrderRepository) -> CommandResult:
    """Decide ``command`` with its handler; raises NoHandlerError for an unknown type."""
    return handler_for(HANDLERS, command)(command, orders)
