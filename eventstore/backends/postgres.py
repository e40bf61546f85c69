"""The PostgreSQL backend: one-statement appends and gap-safe reads in (tx_id, position) order.

Each row records a transaction id (tx_id, xid8): its writer's, or that of the transaction that
committed the stream's previous event when that one is newer (see append_sql). Sequence values
are taken at insert but become visible at commit, so the log is read in (tx_id, position) order
below the oldest transaction still running: a follower never skips an event that commits late,
and sees each stream in version order. Hot statements are prepared (common.db.fetch).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Final

from django.db import DatabaseError, IntegrityError, connection
from django.utils import timezone
from psycopg.errors import DeadlockDetected

from common.db import fetch, json_dumps
from eventstore.backends.base import EventStoreBackend, aware
from eventstore.errors import ConcurrencyError, SealingKeyRejected
from eventstore.records import (
    AppendResult,
    Backlog,
    Checkpoint,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Rider,
)

_STREAM_VERSION_CONSTRAINT: Final = "eventstore_stream_version"
_EVENT_ID_CONSTRAINT: Final = "eventstore_event_event_id_key"
MAX_VERSION: Final = 2**31 - 1

# Versions follow the expected version N. One probe of the (stream_id, version) index reads the
# stream's last event: the append inserts only if its version is N (0: no stream), otherwise
# nothing, and the caller learns the actual version (read in the same transaction, which is
# still usable). Two writers racing past the probe together are stopped by UNIQUE(stream_id,
# version).
# tx_id orders the log. A transaction's id is taken at its first write, so one that wrote before
# this append (another stream, another table) can be older than the transaction that committed
# version N; its id would sort this append before version N. Such an append takes version N's
# tx_id instead (never an older one): a stream's events then sort in version order, and the key
# is still one no follower can have passed (see docs/decisions.md).
# One statement text per number of events, so each is prepared once per connection.
_APPEND_ROW: Final = "(%s::uuid, %s::int, %s::text, %s::int, %s::jsonb, %s::jsonb)"


# Personal data (eventstore.personal): an append of sealed fields names the key it sealed with.
# The statement stores it when the subject has no key yet, and appends nothing unless it is the
# subject's key: a key this process kept from before the subject was forgotten (or that lost a
# race to make the subject's first key) seals nothing into the log.
_SEALING_KEY: Final = """sealing_key AS (
    INSERT INTO eventstore_personal_key (subject_id, key, created_at)
    VALUES (%s::text, %s::bytea, %s::timestamptz)
    ON CONFLICT (subject_id) DO NOTHING
    RETURNING key)"""
_SEALING_KEY_GUARD: Final = """
  AND %s::bytea = coalesce((SELECT key FROM sealing_key),
                           (SELECT key FROM eventstore_personal_key WHERE subject_id = %s::text))"""
_PERSONAL_KEYS: Final = (
    "SELECT subject_id, key FROM eventstore_personal_key WHERE subject_id = ANY(%s::text[])"
)


@cache
def append_sql(count: int, rider: str | None = None, keyed: bool = False) -> str:
    """One text per count, rider and keyed (see _SEALING_KEY)."""
    guard = _SEALING_KEY_GUARD if keyed else ""
    insert = f"""
INSERT INTO eventstore_event (event_id, stream_id, stream_type, version, event_type,
                              schema_version, data, metadata, recorded_at, tx_id)
SELECT v.id, %s::text, %s::text, v.version, v.type, v.sv, v.data, v.meta, %s::timestamptz,
       greatest(pg_current_xact_id(), head.tx_id)
FROM (SELECT coalesce(max(version), 0) AS version, max(tx_id) AS tx_id
      FROM (SELECT version, tx_id FROM eventstore_event WHERE stream_id = %s::text
            ORDER BY version DESC LIMIT 1) AS last) AS head,
     (VALUES {", ".join([_APPEND_ROW] * count)}) AS v(id, version, type, sv, data, meta)
WHERE head.version = %s::int{guard}
RETURNING global_position, version
"""  # noqa: S608
    if rider is None:
        return f"WITH {_SEALING_KEY}\n{insert}" if keyed else insert
    # A data-modifying CTE: the rider's INSERT sees the appended rows, in the same snapshot
    # and statement (it writes nothing when they are none: a version conflict).
    key = f"{_SEALING_KEY},\n" if keyed else ""
    return f"""
WITH {key}appended AS ({insert}),
rider AS ({rider})
SELECT global_position, version FROM appended  -- (a data-modifying CTE always runs)
"""  # noqa: S608


_CURRENT_VERSION: Final = (
    "SELECT coalesce(max(version), 0) FROM eventstore_event WHERE stream_id = %s::text"
)

_READ_STREAM: Final = """
SELECT global_position, event_id, stream_id, stream_type, version, event_type, schema_version,
       data, {metadata}, recorded_at, tx_id::text::bigint
FROM eventstore_event
WHERE stream_id = %s::text AND version BETWEEN %s::int AND %s::int
  AND recorded_at <= %s::timestamptz
ORDER BY version
"""
_READ_STREAM_PAYLOADS: Final = """
SELECT event_type, schema_version, data
FROM eventstore_event
WHERE stream_id = %s::text AND version BETWEEN %s::int AND %s::int
ORDER BY version
"""
_READ_STREAM_SQL: Final = {
    True: _READ_STREAM.format(metadata="metadata"),
    False: _READ_STREAM.format(metadata="NULL"),
}

# The horizon: the oldest transaction still in progress in this statement's snapshot, leaving
# out the ones pg_stat_activity shows running in *other* databases (they can't write here, and
# the snapshot's xmin is cluster-wide). Only positively identified ones are left out: an xid
# whose owner is unknown (finished meanwhile, or hidden from an unprivileged role) still counts.
# Every row this snapshot cannot see has a tx_id at or above the horizon (its writer is running
# or starts later, and a row's tx_id is never older than its writer's), so nothing below it can
# still appear.
_HORIZON: Final = """
WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
elsewhere AS (
    SELECT backend_xid::text::bigint AS xid32 FROM pg_stat_activity
    WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()
),
horizon AS (
    SELECT coalesce(
        (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
         WHERE x::text::bigint %% 4294967296 NOT IN (SELECT xid32 FROM elsewhere)),
        pg_snapshot_xmax(snap.s)) AS h
    FROM snap
)"""

_READ_ALL: Final = (
    _HORIZON  # noqa: S608 (constant SQL text)
    + """
SELECT e.global_position, e.event_id, e.stream_id, e.stream_type, e.version, e.event_type,
       e.schema_version, e.data, {metadata}, e.recorded_at, e.tx_id::text::bigint AS tx_number
FROM eventstore_event AS e
WHERE (e.tx_id, e.global_position) > (%s::bigint::text::xid8, %s::bigint)
  AND e.tx_id < (SELECT h FROM horizon)
ORDER BY e.tx_id, e.global_position  -- the table's columns: the (tx_id, position) index order
LIMIT %s::int
"""
)

_READ_ALL_SQL: Final = {
    True: _READ_ALL.format(metadata="e.metadata"),
    False: _READ_ALL.format(metadata="NULL"),
}

# The last event below the horizon: every event that is not visible yet sorts after it.
_CHECKPOINT_NOW: Final = (
    _HORIZON  # noqa: S608 (constant SQL text)
    + """
SELECT e.tx_id::text::bigint, e.global_position
FROM eventstore_event AS e
WHERE e.tx_id < (SELECT h FROM horizon)
ORDER BY e.tx_id DESC, e.global_position DESC
LIMIT 1
"""
)


class PostgresBackend(EventStoreBackend):
    appends_in_one_statement = True
    checks_sealing_keys = True

    def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[NewEvent],
        expected: int | None,
        expected_version: ExpectedVersion,
        *,
        rider: Rider | None,
        sealed_with: tuple[str, bytes] | None = None,
    ) -> AppendResult:
        start = self.current_version(stream_id) if expected is None else expected
        now = timezone.now()
        params: list[Any] = []
        if sealed_with is not None:
            params += [sealed_with[0], sealed_with[1], now]
        params += [stream_id, stream_type, now, stream_id]
        for version, e in enumerate(events, start=start + 1):
            params += [
                e.event_id,
                version,
                e.event_type,
                e.schema_version,
                json_dumps(e.data),
                json_dumps(e.metadata),
            ]
        params.append(start)
        if sealed_with is not None:
            params += [sealed_with[1], sealed_with[0]]
        if rider is not None:
            params += rider.params
        sql = append_sql(len(events), rider.sql if rider else None, sealed_with is not None)
        rows = fetch(sql, params)
        if not rows:  # the stream is not at the expected version, or the key is not the subject's
            actual = self.current_version(stream_id)
            if sealed_with is not None and actual == start:
                raise SealingKeyRejected(stream_id)
            raise ConcurrencyError(stream_id, expected_version, actual)
        rows.sort(key=lambda row: row[1])
        return AppendResult(
            stream_id,
            rows[-1][1],
            tuple(row[0] for row in rows),
            rider_wrote=rider is not None,
        )

    def personal_keys(self, subjects: Collection[str]) -> dict[str, bytes | None]:
        rows = fetch(_PERSONAL_KEYS, [list(subjects)])
        return {subject: None if key is None else bytes(key) for subject, key in rows}

    def is_version_conflict(self, exc: DatabaseError) -> bool:
        # Two transactions appending to the same streams in opposite orders each wait for the
        # other's version row: PostgreSQL breaks the deadlock by failing one, a lost race too.
        if isinstance(exc, IntegrityError):
            return _constraint(exc) == _STREAM_VERSION_CONSTRAINT
        # The deadlock's message names the index it waited on; no value is quoted before it.
        return isinstance(exc.__cause__, DeadlockDetected) and _STREAM_VERSION_CONSTRAINT in str(
            exc
        )

    def is_duplicate_event(self, exc: DatabaseError) -> bool:
        return isinstance(exc, IntegrityError) and _constraint(exc) == _EVENT_ID_CONSTRAINT

    def current_version(self, stream_id: str) -> int:
        return int(fetch(_CURRENT_VERSION, [stream_id])[0][0])

    def read_stream(
        self,
        stream_id: str,
        from_version: int,
        to_version: int | None,
        until: datetime | None,
        metadata: bool,
    ) -> list[RecordedEvent]:
        to = MAX_VERSION if to_version is None else to_version
        rows = fetch(_READ_STREAM_SQL[metadata], [stream_id, from_version, to, until or "infinity"])
        return self.events_of(rows)

    def read_stream_payloads(
        self, stream_id: str, from_version: int, to_version: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        to = MAX_VERSION if to_version is None else to_version
        rows = fetch(_READ_STREAM_PAYLOADS, [stream_id, from_version, to])
        return self.payloads_of(rows)

    def read_all(self, after: Checkpoint, limit: int, metadata: bool) -> list[RecordedEvent]:
        rows = fetch(_READ_ALL_SQL[metadata], [after.tx_id, after.position, limit])
        return self.events_of(rows)

    def checkpoint_now(self) -> Checkpoint:
        rows = fetch(_CHECKPOINT_NOW, [])
        return Checkpoint(*rows[0]) if rows else Checkpoint()

    def checkpoint_at(self, position: int) -> Checkpoint | None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tx_id::text::bigint FROM eventstore_event WHERE global_position = %s",
                [position],
            )
            row = cursor.fetchone()
        return Checkpoint(row[0], position) if row else None

    def backlog(self, after: Checkpoint) -> Backlog:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), min(recorded_at) FROM eventstore_event "
                "WHERE (tx_id, global_position) > (%s::text::xid8, %s)",
                [after.tx_id, after.position],
            )
            count, oldest = cursor.fetchone() or (0, None)
        return Backlog(int(count), None if oldest is None else aware(oldest))


def _constraint(exc: DatabaseError) -> str | None:
    """The constraint a database error names (psycopg's diagnostics, under Django's error)."""
    diag = getattr(exc.__cause__, "diag", None)
    return diag.constraint_name if diag is not None else None
