"""Read-your-writes: wait (bounded) until projections have applied a given log position.

The checkpoints are re-checked as batches commit: on PostgreSQL when the batch's NOTIFY
arrives, elsewhere at growing intervals (projections.engine.backends).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from common.http.consistency import MinPosition
from common.metrics import CONSISTENCY_WAITS
from eventstore.store import Checkpoint, checkpoint_at
from projections.engine.backends import backend
from projections.engine.backends.base import poll
from projections.engine.models import ProjectionState


class _Goal:
    """Every named projection's active generation has applied ``position``.

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
            "tx_id", "position"
        )
        checkpoints = [Checkpoint(tx, pos) for tx, pos in found]
        return len(checkpoints) == len(self.names) and all(c >= self.target for c in checkpoints)


def wait_until_applied(names: Sequence[str], position: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until ``names`` have applied ``position``; True if so."""
    goal = _Goal(names, position)
    if goal.reached():
        return True
    deadline = time.monotonic() + timeout
    if not names:  # waiting for a commit to the log: no batch would tell
        return poll(goal.reached, deadline)
    return backend().wait_for_batches(goal.reached, deadline)


def wait_for(demand: MinPosition | None, feeds: Sequence[str]) -> bool | None:
    """Honour a request's min_position for an answer fed by ``feeds`` (the log itself when
    empty): True if applied in time, False if the wait timed out, None if none was asked."""
    if demand is None:
        return None
    fresh = wait_until_applied(feeds, demand.position, demand.timeout)
    CONSISTENCY_WAITS.labels("fresh" if fresh else "stale").inc()
    return fresh
