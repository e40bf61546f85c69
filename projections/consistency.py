"""Read-your-writes: wait (bounded) until projections have applied a given log position.

On PostgreSQL the waiter LISTENs for the runner's per-batch NOTIFY and re-checks the
checkpoints only when one arrives; on SQLite it polls with a growing interval.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.db import connection

from eventstore.store import Checkpoint, checkpoint_of
from projections.models import ProjectionState
from projections.runner import NOTIFY_CHANNEL


def applied(names: Sequence[str], position: int) -> bool:
    """True when every named projection's active generation has applied ``position``.

    With no names, the reader is the log itself: true once the event is committed.
    """
    if position == 0:
        return True  # the empty log's position: nothing to wait for
    target = checkpoint_of(position)
    if target is None:
        return False  # not committed (yet): nothing can have applied it
    if not names:
        return True
    states = ProjectionState.objects.filter(name__in=names, active=True).values_list(
        "tx_id", "position"
    )
    found = list(states)
    return len(found) == len(set(names)) and all(Checkpoint(tx, pos) >= target for tx, pos in found)


def wait_until_applied(names: Sequence[str], position: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``applied``; True if it happened (fresh)."""
    if applied(names, position):
        return True
    deadline = time.monotonic() + timeout
    if names and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _wait_notified(names, position, deadline)
    delay = 0.005
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(delay, remaining))
        if applied(names, position):
            return True
        delay = min(delay * 2, 0.1)
    return False


def _wait_notified(names: Sequence[str], position: int, deadline: float) -> bool:
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
    try:
        # Check after LISTEN so that no batch can commit unseen between check and wait.
        while True:
            if applied(names, position):
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
