"""The base of every order read model: a projection folded per order, states kept in memory.

A batch takes the states of the orders it touches from the projection's StateCache or, for the
ones this worker has not folded lately, from the projection's own rows (none for orders the
batch creates), folds its events (projections.read_models.folding) and writes back with a few
set-based statements (projections.engine.tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from django.conf import settings

from eventstore.store import Checkpoint, RecordedEvent
from projections.engine import base
from projections.read_models.folding import (
    ORDER_EVENT_TYPES,
    OrderId,
    OrderState,
    StateCache,
    orders_to_load,
)


class OrderProjection(base.Projection):
    """A read model folded per order; subclasses say how to read a state back and write it."""

    handles: ClassVar[frozenset[str]] = ORDER_EVENT_TYPES
    reads_metadata: ClassVar[bool] = False

    def __init__(self) -> None:
        self.cache = StateCache(settings.PROJECTION_CACHED_ORDERS)

    def batch_starting(self, generation: int, after: Checkpoint, to: Checkpoint) -> None:
        self.cache.start(generation, after, to)

    def states_for(
        self, events: Sequence[RecordedEvent], generation: int
    ) -> dict[OrderId, OrderState]:
        """The states of the orders ``events`` touch and do not create (and maybe more)."""
        states = self.cache.states(generation)
        missing = {order_id for order_id in orders_to_load(events) if order_id not in states}
        states.update(self.load(generation, missing))
        return states

    def load(self, generation: int, order_ids: set[OrderId]) -> dict[OrderId, OrderState]:
        """The states of ``order_ids``, read back from this projection's rows."""
        raise NotImplementedError
