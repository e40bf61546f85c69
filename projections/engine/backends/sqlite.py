"""The engine on SQLite (the embedded default): leases as on PostgreSQL (several statements),
polling while a reader waits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from django.db import connection

from common.db import fetch
from common.waits import poll
from eventstore.store import Checkpoint
from projections.engine.backends.base import (
    ANY_SKIP,
    CLAIMABLE,
    RELEASE,
    RUNNABLE,
    SWAP_CHECKPOINT,
    EngineBackend,
    Lease,
    Turn,
    swap_parameters,
)
from projections.engine.models import ProjectionState

_STATES: Final = ProjectionState._meta.db_table


class SQLiteBackend(EngineBackend):
    # One connection at a time writes or reads the file: nothing to overlap.
    reads_ahead = False
    writes_behind = False

    def claim(
        self, state: ProjectionState, owner: str, seconds: float, now: datetime | None
    ) -> Turn:
        # Leases by this machine's clock: SQLite is one machine's file (not the clock the tests
        # may freeze: the wall clock).
        wall = datetime.now(UTC)
        adapt = connection.ops.adapt_datetimefield_value
        claimed = fetch(
            f"UPDATE {_STATES} SET owner = %s, fencing = fencing + 1, "  # noqa: S608
            "lease_until = %s WHERE id = %s AND name = %s AND generation = %s AND shard = %s "
            f"AND {CLAIMABLE.format(now='%s')}{RUNNABLE if now else ''} RETURNING fencing",
            [
                owner,
                adapt(wall + timedelta(seconds=seconds)),
                state.pk,
                state.name,
                state.generation,
                state.shard,
                owner,
                adapt(wall),
                *([adapt(now)] if now else []),
            ],
        )
        any_skips = bool(fetch(ANY_SKIP, [state.name]))
        found = self.reload(state)
        if not claimed:
            return Turn(None, found, found and state.active, any_skips)
        return Turn(Lease(owner, claimed[0][0]), found, state.active, any_skips)

    def release(self, state: ProjectionState, lease: Lease) -> None:
        fetch(RELEASE, [state.pk, lease.owner, lease.fencing])

    def reload(self, state: ProjectionState) -> bool:
        try:
            state.refresh_from_db()
        except ProjectionState.DoesNotExist:
            return False
        return True

    def move_checkpoint(
        self,
        state: ProjectionState,
        lease: Lease,
        to: Checkpoint,
        *,
        applied: int,
        retry_at: datetime | None,
        now: datetime,
        seconds: float,
    ) -> bool:
        until = connection.ops.adapt_datetimefield_value(
            datetime.now(UTC) + timedelta(seconds=seconds)
        )
        parameters = swap_parameters(
            state, lease, to, applied=applied, retry_at=retry_at, now=now, until=until
        )
        return len(fetch(SWAP_CHECKPOINT.format(until="%s"), parameters)) == 1

    def wait_for_batches(self, condition: Callable[[], bool], deadline: float) -> bool:
        return poll(condition, deadline)
