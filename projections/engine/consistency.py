"""Read-your-writes: wait (bounded) until projections have applied a given log position.

On PostgreSQL the waiter LISTENs for the runner's per-batch NOTIFY and re-checks the
checkpoints only when one arrives; on SQLite it polls with a growing interval.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.db import connection

from common.http.consistency import MinPosition
from common.metrics import CONSISTENCY_WAITS
from eventstore.store import Checkpoint, checkpoint_at
from projections.engine.models import ProjectionState
from projections.engine.runner import NOTIFY_CHANNEL


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
    if names and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _wait_notified(goal, deadline)
    delay = 0.005
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(delay, remaining))
        if goal.reached():
            return True
        delay = min(delay * 2, 0.1)
    return False


def _wait_notified(goal: _Goal, deadline: float) -> bool:
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
    try:
        # Check after LISTEN so that no batch can commit unseen between check and wait.
        while True:
            if goal.reached():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # A bounded wait also covers a projection that moves without notifying.
            for _ in raw.notifies(timeout=min(remaining, 0.25), stop_after=1):
                pass
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"UNLISTEN {NOTIFY_CHANNEL}")


def wait_for(demand: MinPosition | None, feeds: Sequence[str]) -> bool | None:
    """Honour a request's min_position for an answer fed by ``feeds`` (the log itself when
    empty): True if applied in time, False if the wait timed out, None if none was asked."""
    if demand is None:
        return None
    fresh = wait_until_applied(feeds, demand.position, demand.timeout)
    CONSISTENCY_WAITS.labels("fresh" if fresh else "stale").inc()
    return fresh
