"""A fake order repository for unit tests: orders as lists of events in a dict, no database."""

from __future__ import annotations

import uuid
from typing import Any

from orders.domain.errors import ConcurrencyConflict, OrderNotFound
from orders.domain.handlers import CommandResult
from orders.domain.model import Order


class InMemoryOrderRepository:
    """Orders as lists of events in a dict: what handlers see in unit tests."""

    def __init__(self, *history: Any) -> None:
        """``history``: events the streams already hold, as if earlier commands ran."""
        self.streams: dict[uuid.UUID, list[Any]] = {}
        self.position = 0
        for event in history:
            self.streams.setdefault(event.order_id, []).append(event)
            self.position += 1

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
