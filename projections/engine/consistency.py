"""Read-your-writes: wait (bounded) until projections have applied a given log position.

The checkpoints are re-checked as batches commit: on PostgreSQL when the batch's NOTIFY
arrives, elsewhere at growing intervals (projections.engine.backends).

A wait holds one of the process's wait slots (common.waits). A position beyond the log's head
is answered stale at once too: no command has acknowledged it, so no client can be waiting
for its own write there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.conf import settings

from common.routing import reading_replica
from common.waits import BEYOND_HEAD, BUSY, FRESH, STALE, bounded_wait, slots
from eventstore.store import (
    Checkpoint,
    Shard,
    any_between,
    checkpoint_at,
    checkpoint_now,
    head_position,
)
from projections.engine import followers
from projections.engine.backends import backend
from projections.engine.models import ProjectionState


class _Goal:
    """Every named projection's active generation has applied ``position``: each of its
    shards, every event of the shard up to there.

    With no names, the reader is the log itself: reached once the event is committed. The
    event's checkpoint is looked up once, when it first exists.
    """

    def __init__(self, names: Sequence[str], position: int) -> None:
        self.names = frozenset(names)
        self.position = position
        self.target: Checkpoint | None = Checkpoint() if position == 0 else None

    def reached(self) -> bool:
        if self.target is None:
            self.target = checkpoint_at(self.position)
            if self.target is None:
                return False  # not committed (yet): nothing can have applied it
        if not self.names:
            return True
        found = ProjectionState.objects.filter(name__in=self.names, active=True).values_list(
            "name", "shard", "shards", "tx_id", "position"
        )
        shards: dict[str, int] = {}
        behind: list[tuple[Shard, Checkpoint]] = []
        for name, shard, count, tx, pos in found:
            shards[name] = count
            if Checkpoint(tx, pos) < self.target:
                if count == 1:
                    return False
                part = followers.log_part(followers.get(name), shard, count)
                behind.append((part, Checkpoint(tx, pos)))
        if set(shards) != self.names or len(found) != sum(shards.values()):
            return False
        if not behind:
            return True
        # A shard moves its checkpoint only over its own events: one behind the target has
        # applied it if none of its events lies in between, once all up to it are committed.
        if checkpoint_now() < self.target:
            return False
        return not any(any_between(at, self.target, shard=shard) for shard, at in behind)


# The outcomes and the process's wait slots are common.waits' (shared with the event store's
# waits for a commit); re-exported here for the engine's callers.
__all__ = [
    "BEYOND_HEAD",
    "BUSY",
    "FRESH",
    "STALE",
    "wait_outcome",
    "wait_until_applied",
]


def _notified() -> bool:
    """Whether a batch's NOTIFY can wake a wait: not behind a transaction-mode pooler (no
    LISTEN there) and not when the checkpoints are read on a replica (the primary's NOTIFY
    says nothing of what the replica has replayed): then the wait polls."""
    return settings.DATABASE_POOL_MODE != "transaction" and not reading_replica()


def wait_until_applied(names: Sequence[str], position: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until ``names`` have applied ``position``; True if so."""
    return wait_outcome(names, position, timeout) == FRESH


def wait_outcome(names: Sequence[str], position: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    goal = _Goal(names, position)
    if goal.reached():
        return FRESH
    if goal.target is None and position > head_position():
        return BEYOND_HEAD
    if not names or not _notified():  # a commit to the log, or a replica: no batch would tell
        return bounded_wait(goal.reached, deadline)
    with slots.slot() as free:
        if not free:
            return BUSY
        reached = backend().wait_for_batches(goal.reached, deadline)
    return FRESH if reached else STALE
