"""The engine on PostgreSQL: advisory locks, prepared state reads, NOTIFY on each batch,
LISTEN while a reader waits, partitions per generation, rows as JSON recordsets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, Final

from django.db import DatabaseError, connection

from common.db import fetch, fetch_each
from eventstore.store import Checkpoint
from projections.engine.backends.base import (
    ANY_SKIP,
    SWAP_CHECKPOINT,
    EngineBackend,
    Turn,
    poll,
    swap_parameters,
)
from projections.engine.backends.postgres_partitions import PartitionedTables
from projections.engine.backends.postgres_rows import RecordsetRows
from projections.engine.models import ProjectionState

NOTIFY_CHANNEL: Final = "projections"
# A waiting reader re-checks at least this often, which also covers a checkpoint moved
# without a notification.
LONGEST_SILENCE_SECONDS: Final = 0.25

_STATE_FIELDS: Final = (
    "active",
    "status",
    "tx_id",
    "position",
    "events_applied",
    "attempts",
    "last_error",
    "error_position",
    "retry_at",
)
_READ_STATE: Final = (
    f"SELECT {', '.join(_STATE_FIELDS)} "  # noqa: S608 - model metadata
    f"FROM {ProjectionState._meta.db_table} "
    "WHERE id = %s AND name = %s::text AND generation = %s"
)
# The state and, in the same round trip, whether there is any recorded skip (one row always).
_READ_STATE_FOR_TURN: Final = (
    f"SELECT s.*, EXISTS ({ANY_SKIP}) "  # noqa: S608 - model metadata
    f"FROM (VALUES (1)) AS one LEFT JOIN ({_READ_STATE}) AS s ON true"
)
# The swap also NOTIFYs waiting readers (delivered at commit) and lets the transaction commit
# without waiting for the WAL flush: a crash can lose only the latest batches, rows and
# checkpoint together, and they are applied again from the log.
_SWAP_AND_NOTIFY: Final = (
    f"{SWAP_CHECKPOINT}, pg_notify(%s, %s), set_config('synchronous_commit', 'off', true)"
)


_LOCK: Final = "SELECT pg_advisory_lock(hashtext(%s::text), %s::int)"
_TRY_LOCK: Final = "SELECT pg_try_advisory_lock(hashtext(%s::text), %s::int)"
_UNLOCK: Final = "SELECT pg_advisory_unlock(hashtext(%s::text), %s::int)"
# The advisory lock ``lock`` takes, held by session ``pid`` (two int4 keys: objsubid 2).
_HOLDS_LOCK: Final = (
    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid = hashtext(%s::text)::oid AND objid = %s::int::oid AND objsubid = 2)"
)


class PostgresBackend(PartitionedTables, RecordsetRows, EngineBackend):
    # A second connection reads the log while this one applies, and a third writes a batch
    # while the next is folded: both cores work.
    reads_ahead = True
    writes_behind = True

    @contextmanager
    def lock(self, name: str, generation: int, *, wait: bool) -> Iterator[bool]:
        [(locked,)] = fetch(_LOCK if wait else _TRY_LOCK, [name, generation])
        acquired = wait or bool(locked)
        try:
            yield acquired
        finally:
            if acquired:
                fetch(_UNLOCK, [name, generation])

    @contextmanager
    def claim(self, state: ProjectionState) -> Iterator[Turn | None]:
        # Two statements in one round trip: the state is read after the lock is granted, in a
        # snapshot of its own (one statement for both would read it from before the lock).
        key = [state.name, state.generation]
        try:
            [[(locked,)], [row]] = fetch_each(
                (_TRY_LOCK, key), (_READ_STATE_FOR_TURN, [state.name, state.pk, *key])
            )
        except DatabaseError:
            # A session's advisory lock outlives the failed statements that took it.
            with suppress(DatabaseError):
                fetch(_UNLOCK, key)
            raise
        if not locked:
            yield None
            return
        try:
            found = row[0] is not None  # ``active`` is never NULL in a row that exists
            if found:
                _fill(state, row[:-1])
            yield Turn(found, bool(row[-1]))
        finally:
            fetch(_UNLOCK, key)

    def lock_holder(self) -> int:
        [(pid,)] = fetch("SELECT pg_backend_pid()", [])
        return int(pid)

    def holds_lock(self, name: str, generation: int, holder: int) -> bool:
        [(held,)] = fetch(_HOLDS_LOCK, [holder, name, generation])
        return bool(held)

    def reload(self, state: ProjectionState) -> bool:
        rows = fetch(_READ_STATE, [state.pk, state.name, state.generation])
        if rows:
            _fill(state, rows[0])
        return bool(rows)

    def move_checkpoint(
        self, state: ProjectionState, to: Checkpoint, *, applied: int, now: datetime
    ) -> bool:
        parameters = [*swap_parameters(state, to, applied, now), NOTIFY_CHANNEL, state.name]
        return len(fetch(_SWAP_AND_NOTIFY, parameters)) == 1

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
    for field, value in zip(_STATE_FIELDS, row, strict=True):
        setattr(state, field, value)
