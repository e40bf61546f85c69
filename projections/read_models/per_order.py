"""The base of every order read model: a projection folded per order, states kept in memory.

A batch takes the states of the orders it touches from the projection's StateCache or, for the
ones this worker has not folded lately, from the projection's own rows (none for orders the
batch creates), folds its events (projections.read_models.folding) and writes back with a few
set-based statements (projections.engine.tables).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

Writes = Callable[[], None]
"""A batch's statements, computed from its fold, run later in its transaction."""


def _settled() -> None:
    """Nothing written behind: reading the projection's rows needs no wait."""


class OrderProjection(base.Projection):
    """A read model folded per order; subclasses say how to read a state back and write it.

    ``writes`` folds a batch and returns its statements: run at once inside the batch's
    transaction (``apply``), or later on the runner's writer while the next batch is folded
    (``fold``, write-behind).
    """

    handles: ClassVar[frozenset[str]] = ORDER_EVENT_TYPES
    reads_metadata: ClassVar[bool] = False
    folds_ahead: ClassVar[bool] = True

    def __init__(self, shard: int = 0) -> None:
        self.cache = StateCache(settings.PROJECTION_CACHED_ORDERS)
        # Which shard's batches this instance folds: the part of the rows several shards
        # write (counts, summaries) that its batches add to (tables.add's ``shard``).
        self.shard = shard

    def batch_starting(self, generation: int, after: Checkpoint, to: Checkpoint) -> None:
        self.cache.start(generation, after, to)

    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        self.writes(events, self.cache.states(generation), generation, _settled)()

    def fold(
        self,
        events: Sequence[RecordedEvent],
        generation: int,
        after: Checkpoint,
        to: Checkpoint,
        *,
        settle: Callable[[], None],
    ) -> Writes:
        states = self.cache.fold_ahead(generation, after, to)
        writes = self.writes(events, states, generation, settle)
        self.cache.trim(generation)
        return writes

    def abandon(self, generation: int) -> None:
        self.cache.forget(generation)

    def writes(
        self,
        events: Sequence[RecordedEvent],
        states: dict[OrderId, OrderState],
        generation: int,
        settle: Callable[[], None],
    ) -> Writes:
        """Fold ``events`` into ``states`` (the cached ones; the rest are read back once
        ``settle`` returns) and return the statements that write the result."""
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
