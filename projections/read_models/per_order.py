"""The base of every order read model: a projection folded per order, states kept in memory.

A batch takes the states of the orders it touches from the projection's StateCache or, for the
ones this worker has not folded lately, from the projection's own rows (none for orders the
batch creates), folds its events (projections.read_models.folding) and writes back with a few
set-based statements (projections.read_models.toolkit.tables).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from django.conf import settings

from eventstore.store import RecordedEvent, Shard
from projections.engine.followers import Batch, log_part
from projections.engine.strategies import Pipelined, Strategy
from projections.read_models.folding import (
    ORDER_EVENT_TYPES,
    OrderId,
    OrderState,
    StateCache,
    orders_to_load,
)
from projections.read_models.toolkit.projection import Projection

Writes = Callable[[], None]
"""A batch's statements, computed from its fold, run in its transaction."""


class OrderProjection(Projection):
    """A read model folded per order; subclasses say how to read a state back and write it.

    Pipelined (read-ahead, write-behind): ``handle`` folds a batch and hands its statements to
    ``batch.write``, which runs them in the batch's transaction, at once or (while catching up)
    on the runner's writer while the next batch is folded. The states of the orders it touched
    are kept for the next batch when it ``continues`` this one.
    """

    handles: ClassVar[frozenset[str] | None] = ORDER_EVENT_TYPES
    reads_metadata: ClassVar[bool] = False
    strategy: ClassVar[type[Strategy] | None] = Pipelined

    def __init__(self) -> None:
        self.cache = StateCache(settings.PROJECTION_CACHED_ORDERS)

    def handle(self, events: Sequence[RecordedEvent], batch: Batch) -> int | None:
        slot = (batch.generation, batch.shard)
        states = self.cache.states(slot, continues=batch.continues)
        part = log_part(self, batch.shard, batch.shards)
        batch.write(self.writes(events, states, batch.generation, batch.settle, part))
        self.cache.trim(slot)
        return None

    def writes(
        self,
        events: Sequence[RecordedEvent],
        states: dict[OrderId, OrderState],
        generation: int,
        settle: Callable[[], None],
        part: Shard,
    ) -> Writes:
        """Fold ``events`` into ``states`` (the cached ones; the rest are read back once
        ``settle`` returns) and return the statements that write the result. ``part`` is the
        shard of the log the batch is from: rows that several shards write (counts, sums)
        take the deltas into its part of them (``part.index``)."""
        raise NotImplementedError

    def states_for(
        self,
        events: Sequence[RecordedEvent],
        states: dict[OrderId, OrderState],
        generation: int,
        settle: Callable[[], None],
    ) -> dict[OrderId, OrderState]:
        """``states`` completed with the orders ``events`` touch and do not create."""
        missing = {order_id for order_id in orders_to_load(events) if order_id not in states}
        if missing:
            settle()
            states.update(self.load(generation, missing))
        return states

    def load(self, generation: int, order_ids: set[OrderId]) -> dict[OrderId, OrderState]:
        """The states of ``order_ids``, read back from this projection's rows."""
        raise NotImplementedError
