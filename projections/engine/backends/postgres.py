"""The engine on PostgreSQL: leases claimed in one statement, a fenced swap that NOTIFYs on
each batch, LISTEN while a reader waits.
No session state (no session advisory lock): it works through PgBouncer in transaction mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from django.db import connection

from common.db import fetch
from common.waits import poll
from eventstore.store import Checkpoint
from projections.engine.backends.base import (
    ANY_SKIP,
    CLAIMABLE,
    RELEASE,
    RUNNABLE,
    STATE_FIELDS,
    SWAP_CHECKPOINT,
    EngineBackend,
    Lease,
    Turn,
    swap_parameters,
)
from projections.engine.models import ProjectionState

NOTIFY_CHANNEL: Final = "projections"
# A waiting reader re-checks at least this often, which also covers a checkpoint moved
# without a notification.
LONGEST_SILENCE_SECONDS: Final = 0.25

_STATES: Final = ProjectionState._meta.db_table
# Leases are measured by the database's clock: every worker, on any machine, reads the same one.
_NOW: Final = "clock_timestamp()"
_UNTIL: Final = f"{_NOW} + %s * interval '1 second'"
_READ_STATE: Final = (
    f"SELECT {', '.join(STATE_FIELDS)} FROM {_STATES} "  # noqa: S608 - model metadata
    "WHERE id = %s AND name = %s::text AND generation = %s AND shard = %s"
)


# The claim, the state as the claim left it, whether the row exists and is active, and
# whether any skip is recorded: one statement, one round trip. The state comes from the
# UPDATE's RETURNING, so it is the row's newest version (after any batch the claim waited for).
def _claim(runnable: str) -> str:
    return (
        f"WITH claimed AS (UPDATE {_STATES} SET owner = %s, fencing = fencing + 1, "  # noqa: S608
        f"lease_until = {_UNTIL} "
        "WHERE id = %s AND name = %s::text AND generation = %s AND shard = %s AND "
        f"{CLAIMABLE.format(now=_NOW)}{runnable} RETURNING fencing, {', '.join(STATE_FIELDS)}) "
        f"SELECT c.*, s.active, EXISTS ({ANY_SKIP}) "
        "FROM (VALUES (1)) AS one LEFT JOIN claimed AS c ON true "
        f"LEFT JOIN (SELECT active FROM {_STATES} WHERE id = %s AND name = %s::text "
        "AND generation = %s AND shard = %s) AS s ON true"
    )


_CLAIM: Final = _claim(RUNNABLE)
_CLAIM_ANY: Final = _claim("")
# The swap also NOTIFYs waiting readers (delivered at commit) and lets the transaction commit
# without waiting for the WAL flush: a crash can lose only the latest batches, rows and
# checkpoint together, and they are applied again from the log.
_SWAP_AND_NOTIFY: Final = (
    f"{SWAP_CHECKPOINT.format(until=_UNTIL)}, pg_notify(%s, %s), "
    "set_config('synchronous_commit', 'off', true)"
)


class PostgresBackend(EngineBackend):
    # A second connection reads the log while this one applies, and a third writes a batch
    # while the next is folded: both cores work (strategies.Pipelined).
    reads_ahead = True
    writes_behind = True
    runs_shards = True

    def claim(
        self, state: ProjectionState, owner: str, seconds: float, now: datetime | None
    ) -> Turn:
        key = [state.pk, state.name, state.generation, state.shard]
        if now is None:
            [row] = fetch(_CLAIM_ANY, [owner, seconds, *key, owner, state.name, *key])
        else:
            [row] = fetch(_CLAIM, [owner, seconds, *key, owner, now, state.name, *key])
        fencing, fields, (active, any_skips) = row[0], row[1:-2], row[-2:]
        if fencing is None:
            return Turn(None, active is not None, bool(active), bool(any_skips))
        _fill(state, fields)
        return Turn(Lease(owner, fencing), True, bool(state.active), bool(any_skips))

    def release(self, state: ProjectionState, lease: Lease) -> None:
        fetch(RELEASE, [state.pk, lease.owner, lease.fencing])

    def reload(self, state: ProjectionState) -> bool:
        rows = fetch(_READ_STATE, [state.pk, state.name, state.generation, state.shard])
        if rows:
            _fill(state, rows[0])
        return bool(rows)

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
        parameters = swap_parameters(
            state, lease, to, applied=applied, retry_at=retry_at, now=now, until=seconds
        )
        return len(fetch(_SWAP_AND_NOTIFY, [*parameters, NOTIFY_CHANNEL, state.name])) == 1

    def wait_for_batches(self, condition: Callable[[], bool], deadline: float) -> bool:
        if connection.in_atomic_block:
            # Notifications reach a session only between its transactions.
            return poll(condition, deadline)
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
        try:
            # Check after LISTEN so that no batch can commit unseen between check and wait.
            while True:
                if condition():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                for _ in raw.notifies(
                    timeout=min(remaining, LONGEST_SILENCE_SECONDS), stop_after=1
                ):
                    pass
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"UNLISTEN {NOTIFY_CHANNEL}")


def _fill(state: ProjectionState, row: Sequence[Any]) -> None:
    for field, value in zip(STATE_FIELDS, row, strict=True):
        setattr(state, field, value)
