"""Command handlers (load → decide → save) and the command bus that routes commands to them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from orders.domain import commands as cmd
from orders.domain.errors import ConcurrencyConflict, OrderNotFound, VersionMismatch
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


C = TypeVar("C", bound=cmd.Command)
Handler = Callable[[Any, OrderRepository], CommandResult]


class NoHandlerError(LookupError):
    pass


class CommandBus:
    """Routes each command type to exactly one handler."""

    def __init__(self) -> None:
        self._handlers: dict[type[cmd.Command], Handler] = {}

    def register(
        self, command_type: type[C], handler: Callable[[C, OrderRepository], CommandResult]
    ) -> None:
        if command_type in self._handlers:
            raise ValueError(f"{command_type.__name__} already has a handler")
        self._handlers[command_type] = handler

    def dispatch(self, command: cmd.Command, orders: OrderRepository) -> CommandResult:
        try:
            handler = self._handlers[type(command)]
        except KeyError:
            raise NoHandlerError(
                f"No handler registered for command {type(command).__name__}"
            ) from None
        return handler(command, orders)


def default_bus() -> CommandBus:
    bus = CommandBus()
    bus.register(cmd.CreateOrder, handle_create_order)
    bus.register(cmd.AddOrderItem, handle_add_order_item)
    bus.register(cmd.RemoveOrderItem, handle_remove_order_item)
    bus.register(cmd.ChangeShippingAddress, handle_change_shipping_address)
    bus.register(cmd.ShipOrder, handle_ship_order)
    bus.register(cmd.CancelOrder, handle_cancel_order)
    return bus


class InMemoryOrderRepository:
    """Orders as lists of events in a dict: for unit tests and fuzzing, no database."""

    def __init__(self) -> None:
        self.streams: dict[uuid.UUID, list[Any]] = {}
        self.position = 0

    def get(self, order_id: uuid.UUID) -> Order:
        if order_id not in self.streams:
            raise OrderNotFound(f"Order {order_id} does not exist.", order_id=str(order_id))
        return Order.from_events(order_id, self.streams[order_id])

    def save(self, order: Order) -> CommandResult:
        stream = self.streams.setdefault(order.id, [])
        if len(stream) != order.version:
            raise ConcurrencyConflict(f"Order {order.id} changed concurrently.")
        stream.extend(order.pending)
        self.position += len(order.pending)
        order.version += len(order.pending)
        order.pending = []
        return CommandResult(order.id, order.version, self.position)
