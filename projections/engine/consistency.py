"""Read-your-writes: wait (bounded) until projections have applied a given log position.

The checkpoints are re-checked as batches commit: on PostgreSQL when the batch's NOTIFY
arrives, elsewhere at growing intervals (projections.engine.backends).

A wait holds a request thread, so a process holds at most CONSISTENCY_MAX_WAITS at a time:
readers beyond them are answered stale at once, and waiting readers can never take every
thread from commands and probes. A position beyond the log's head is answered stale at once
too: no command has acknowledged it, so no client can be waiting for its own write there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from django.conf import settings

from common.http.consistency import MinPosition
from common.metrics import CONSISTENCY_WAITS
from eventstore.store import (
    Checkpoint,
    Shard,
    any_between,
    checkpoint_at,
    checkpoint_now,
    head_position,
)
from projections.engine.backends import backend
from projections.engine.backends.base import poll
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
                behind.append((Shard(shard, count), Checkpoint(tx, pos)))
        if set(shards) != self.names or len(found) != sum(shards.values()):
            return False
        if not behind:
            return True
        # A shard moves its checkpoint only over its own events: one behind the target has
        # applied it if none of its events lies in between, once all up to it are committed.
        if checkpoint_now() < self.target:
            return False
        return not any(any_between(at, self.target, shard=shard) for shard, at in behind)


# How a wait ended (the label of projection_consistency_waits_total): applied in time, timed
# out, refused at once for a position beyond the log's head or for want of a free wait.
FRESH: Final = "fresh"
STALE: Final = "stale"
BEYOND_HEAD: Final = "beyond_head"
BUSY: Final = "busy"


class _WaitSlots:
    """How many waits this process holds; at most settings.CONSISTENCY_MAX_WAITS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Inside, a wait is held if the context yields True (False: none was free)."""
        with self._lock:
            free = self.held < settings.CONSISTENCY_MAX_WAITS
            if free:
                self.held += 1
        try:
            yield free
        finally:
            if free:
                with self._lock:
                    self.held -= 1


_slots = _WaitSlots()


def wait_until_applied(names: Sequence[str], position: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until ``names`` have applied ``position``; True if so."""
    return _wait(names, position, timeout) == FRESH


def _wait(names: Sequence[str], position: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    goal = _Goal(names, position)
    if goal.reached():
        return FRESH
    if goal.target is None and position > head_position():
        return BEYOND_HEAD
    with _slots.slot() as free:
        if not free:
            return BUSY
        if not names:  # waiting for a commit to the log: no batch would tell
            reached = poll(goal.reached, deadline)
        else:
            reached = backend().wait_for_batches(goal.reached, deadline)
    return FRESH if reached else STALE


def wait_for(demand: MinPosition | None, feeds: Sequence[str]) -> bool | None:
    """Honour a request's min_position for an answer fed by ``feeds`` (the log itself when
    empty): True if applied in time, False if not (stale), None if none was asked."""
    if demand is None:
        return None
    outcome = _wait(feeds, demand.position, demand.timeout)
    CONSISTENCY_WAITS.labels(outcome).inc()
    return outcome == FRESH
