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
    BUCKETS,
    AppendResult,
    Backlog,
    Checkpoint,
    CommandRecord,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Shard,
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
# The key is stored already (this process appended with it): the check alone, no INSERT.
_STORED_KEY_GUARD: Final = """
  AND %s::bytea = (SELECT key FROM eventstore_personal_key WHERE subject_id = %s::text)"""
_PERSONAL_KEYS: Final = (
    "SELECT subject_id, key FROM eventstore_personal_key WHERE subject_id = ANY(%s::text[])"
)


@cache
def append_sql(
    count: int, record_table: str | None = None, keyed: bool = False, stored: bool = False
) -> str:
    """One text per count, record table, keyed and stored (see _SEALING_KEY)."""
    guard = (_STORED_KEY_GUARD if stored else _SEALING_KEY_GUARD) if keyed else ""
    keyed = keyed and not stored  # the key's INSERT, when it may be the subject's first
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
    if record_table is None:
        return f"WITH {_SEALING_KEY}\n{insert}" if keyed else insert
    # A data-modifying CTE: the record's INSERT sees the appended rows, in the same snapshot
    # and statement (it writes nothing when they are none: a version conflict). No ON
    # CONFLICT: a key already taken fails the whole statement, the events included.
    key = f"{_SEALING_KEY},\n" if keyed else ""
    return f"""
WITH {key}appended AS ({insert}),
record AS (
    INSERT INTO {record_table} (actor, key, request_hash, response, created_at)
    SELECT %s::text, %s::text, %s::text,
           %s::jsonb || jsonb_build_object('version', version, 'position', global_position),
           %s::timestamptz
    FROM appended ORDER BY version DESC LIMIT 1
)
SELECT global_position, version FROM appended  -- (a data-modifying CTE always runs)
"""  # noqa: S608


def record_parameters(record: CommandRecord) -> list[Any]:
    """The placeholders' values of ``append_sql``'s record, after the events'."""
    return [
        record.actor,
        record.key,
        record.request_hash,
        json_dumps(record.answer),
        record.created_at,
    ]


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
# The same, with one earlier event first (``also``): each part on the (stream_id, version) key.
_READ_STREAM_ALSO: Final = """
SELECT global_position, event_id, stream_id, stream_type, version, event_type, schema_version,
       data, {metadata}, recorded_at, tx_id::text::bigint
FROM eventstore_event
WHERE stream_id = %s::text AND version = %s::int
UNION ALL
SELECT * FROM ({read}) AS later
ORDER BY version
"""
_READ_STREAM_ALSO_SQL: Final = {
    True: _READ_STREAM_ALSO.format(metadata="metadata", read=_READ_STREAM_SQL[True]),
    False: _READ_STREAM_ALSO.format(metadata="NULL", read=_READ_STREAM_SQL[False]),
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

# read_all by type: the next events below the horizon (small columns only, through the
# (tx_id, position) index), the first of them that match, and the last of them (the tail: a
# reader that found fewer matches than it asked for moves past everything it scanned), all in
# one statement and so one snapshot. The tail is the row with tail = true.
_READ_MATCHING: Final = (
    _HORIZON  # noqa: S608 (constant SQL text)
    + """,
scanned AS MATERIALIZED (
    SELECT e.tx_id, e.global_position, e.event_type, e.stream_type
    FROM eventstore_event AS e
    WHERE (e.tx_id, e.global_position) > (%s::bigint::text::xid8, %s::bigint)
      AND e.tx_id < (SELECT h FROM horizon)
    ORDER BY e.tx_id, e.global_position
    LIMIT %s::int
),
matched AS (
    SELECT s.global_position FROM scanned AS s
    WHERE (cardinality(%s::text[]) = 0 OR s.event_type = ANY(%s::text[]))
      AND (cardinality(%s::text[]) = 0 OR s.stream_type = ANY(%s::text[]))
    ORDER BY s.tx_id, s.global_position
    LIMIT %s::int
),
last AS (
    SELECT s.tx_id, s.global_position FROM scanned AS s
    ORDER BY s.tx_id DESC, s.global_position DESC
    LIMIT 1
)
SELECT e.global_position, e.event_id, e.stream_id, e.stream_type, e.version, e.event_type,
       e.schema_version, e.data, e.metadata, e.recorded_at, e.tx_id::text::bigint AS tx_number,
       false AS tail
FROM matched JOIN eventstore_event AS e USING (global_position)
UNION ALL
SELECT l.global_position, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       l.tx_id::text::bigint, true
FROM last AS l
ORDER BY tail, tx_number, global_position
"""
)

# A shard's events: those of its buckets, through the index eventstore_event_shard on
# (BUCKET, tx_id, global_position) (migration 0005). One ordered index range per bucket, merged
# (Merge Append) up to the limit: a shard reads its own events only, never the others' (the
# plan at 1M events: docs/scaling.md, "Shards").
BUCKET: Final = f"(hashtextextended(e.stream_id, 0) & {BUCKETS - 1})"
_SHARD_ARM: Final = f"""
(SELECT e.global_position, e.event_id, e.stream_id, e.stream_type, e.version, e.event_type,
        e.schema_version, e.data, {{metadata}} AS metadata, e.recorded_at, e.tx_id
 FROM eventstore_event AS e
 WHERE {BUCKET} = %s::int
   AND (e.tx_id, e.global_position) > (%s::bigint::text::xid8, %s::bigint)
   AND e.tx_id < (SELECT h FROM horizon)
 ORDER BY e.tx_id, e.global_position
 LIMIT %s::int)"""  # noqa: S608 (constant SQL text)


_MERGED_ARMS: Final = """
SELECT s.global_position, s.event_id, s.stream_id, s.stream_type, s.version, s.event_type,
       s.schema_version, s.data, s.metadata, s.recorded_at, s.tx_id::text::bigint
FROM ({arms}) AS s
ORDER BY s.tx_id, s.global_position
LIMIT %s::int
"""


# A shard that reads the forget records (Shard.forgets): those of the other shards' buckets too,
# through the forgotten subjects' index on (forgotten_tx, forgotten_position) (migration 0008):
# one more ordered range, merged as the buckets' are.
_FORGETS_ARM: Final = f"""
(SELECT e.global_position, e.event_id, e.stream_id, e.stream_type, e.version, e.event_type,
        e.schema_version, e.data, {{metadata}} AS metadata, e.recorded_at, e.tx_id
 FROM eventstore_personal_key AS k
 JOIN eventstore_event AS e ON e.global_position = k.forgotten_position
 WHERE (k.forgotten_tx, k.forgotten_position) > (%s::bigint, %s::bigint)
   AND k.forgotten_tx < (SELECT h FROM horizon)::text::bigint
   AND {BUCKET} <> ALL(%s::int[])
 ORDER BY k.forgotten_tx, k.forgotten_position
 LIMIT %s::int)"""  # noqa: S608 (constant SQL text)


# Which streams a shard holds: their bucket (as BUCKET computes it) modulo the shard count.
_STREAMS_IN: Final = (
    "SELECT s FROM unnest(%s::text[]) AS s "  # noqa: S608 (constant SQL text)
    f"WHERE (hashtextextended(s, 0) & {BUCKETS - 1}) %% %s::int = %s::int"
)


@cache
def read_shard_sql(buckets: int, metadata: bool, forgets: bool = False) -> str:
    column = "e.metadata" if metadata else "NULL"
    arms = [_SHARD_ARM.format(metadata=column)] * buckets
    if forgets:
        arms.append(_FORGETS_ARM.format(metadata=column))
    return _HORIZON + _MERGED_ARMS.format(arms=" UNION ALL ".join(arms))


_ANY_BETWEEN: Final = (
    "SELECT EXISTS (SELECT FROM eventstore_event AS e WHERE {bucket}"
    "(e.tx_id, e.global_position) > (%s::bigint::text::xid8, %s::bigint) "
    "AND (e.tx_id, e.global_position) <= (%s::bigint::text::xid8, %s::bigint))"
)


_ANY_FORGET_BETWEEN: Final = (
    "SELECT EXISTS (SELECT FROM eventstore_personal_key AS k "
    "WHERE (k.forgotten_tx, k.forgotten_position) > (%s::bigint, %s::bigint) "
    "AND (k.forgotten_tx, k.forgotten_position) <= (%s::bigint, %s::bigint))"
)


@cache
def any_between_sql(buckets: int, forgets: bool = False) -> str:  # 0 buckets: the whole log
    if not buckets:
        return _ANY_BETWEEN.format(bucket="")
    arms = [_ANY_BETWEEN.format(bucket=f"{BUCKET} = %s::int AND ")] * buckets
    if forgets:
        arms.append(_ANY_FORGET_BETWEEN)
    return "SELECT " + " OR ".join(f"({arm})" for arm in arms)


_FORGETS_BACKLOG: Final = (
    "(SELECT count(*) AS n, min(e.recorded_at) AS oldest FROM eventstore_personal_key AS k "  # noqa: S608
    "JOIN eventstore_event AS e ON e.global_position = k.forgotten_position "
    "WHERE (k.forgotten_tx, k.forgotten_position) > (%s::bigint, %s::bigint) "
    f"AND {BUCKET} <> ALL(%s::int[]))"
)


@cache
def shard_backlog_sql(buckets: int, forgets: bool = False) -> str:
    counts = [
        "(SELECT count(*) AS n, min(e.recorded_at) AS oldest FROM eventstore_event AS e "  # noqa: S608
        f"WHERE {BUCKET} = %s::int "
        "AND (e.tx_id, e.global_position) > (%s::bigint::text::xid8, %s::bigint))"
    ] * buckets
    if forgets:
        counts.append(_FORGETS_BACKLOG)
    return f"SELECT coalesce(sum(n), 0), min(oldest) FROM ({' UNION ALL '.join(counts)}) AS c"  # noqa: S608


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
        record: CommandRecord | None,
        sealed_with: tuple[str, bytes] | None = None,
        key_stored: bool = False,
    ) -> AppendResult:
        start = self.current_version(stream_id) if expected is None else expected
        now = timezone.now()
        params: list[Any] = []
        if sealed_with is not None and not key_stored:
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
        table = None
        if record is not None:
            params += record_parameters(record)
            table = connection.ops.quote_name(record.table._meta.db_table)
        keyed = sealed_with is not None
        rows = fetch(append_sql(len(events), table, keyed, keyed and key_stored), params)
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
            record_written=record is not None,
            recorded_at=now,
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
        *,
        also: int | None = None,
    ) -> list[RecordedEvent]:
        to = MAX_VERSION if to_version is None else to_version
        params = [stream_id, from_version, to, until or "infinity"]
        if also is None:
            rows = fetch(_READ_STREAM_SQL[metadata], params)
        else:
            rows = fetch(_READ_STREAM_ALSO_SQL[metadata], [stream_id, also, *params])
        return self.events_of(rows, keep_keys=True)

    def read_stream_payloads(
        self, stream_id: str, from_version: int, to_version: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        to = MAX_VERSION if to_version is None else to_version
        rows = fetch(_READ_STREAM_PAYLOADS, [stream_id, from_version, to])
        return self.payloads_of(rows, stream_id, from_version)

    def read_matching(
        self,
        after: Checkpoint,
        limit: int,
        event_types: Sequence[str],
        stream_types: Sequence[str],
        scan: int,
    ) -> tuple[list[RecordedEvent], Checkpoint | None]:
        types, streams = list(event_types), list(stream_types)
        params = [after.tx_id, after.position, scan, types, types, streams, streams, limit]
        rows = fetch(_READ_MATCHING, params)
        last = rows.pop() if rows and rows[-1][11] else None
        tail = None if last is None else Checkpoint(last[10], last[0])
        return self.events_of(rows), tail

    def read_all(
        self, after: Checkpoint, limit: int, metadata: bool, shard: Shard
    ) -> list[RecordedEvent]:
        if shard.whole:
            rows = fetch(_READ_ALL_SQL[metadata], [after.tx_id, after.position, limit])
        else:
            buckets = shard.buckets
            params: list[Any] = []
            for bucket in buckets:
                params += [bucket, after.tx_id, after.position, limit]
            if shard.forgets:
                params += [after.tx_id, after.position, list(buckets), limit]
            params.append(limit)
            rows = fetch(read_shard_sql(len(buckets), metadata, shard.forgets), params)
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

    def any_between(self, after: Checkpoint, until: Checkpoint, shard: Shard) -> bool:
        bounds = [after.tx_id, after.position, until.tx_id, until.position]
        if shard.whole:
            [(found,)] = fetch(any_between_sql(0), bounds)
        else:
            params: list[Any] = []
            for bucket in shard.buckets:
                params += [bucket, *bounds]
            if shard.forgets:
                params += bounds
            [(found,)] = fetch(any_between_sql(len(shard.buckets), shard.forgets), params)
        return bool(found)

    def streams_in(self, stream_ids: Collection[str], shard: Shard) -> set[str]:
        rows = fetch(_STREAMS_IN, [list(stream_ids), shard.count, shard.index])
        return {row[0] for row in rows}

    def backlog(self, after: Checkpoint, shard: Shard) -> Backlog:
        with connection.cursor() as cursor:
            if shard.whole:
                cursor.execute(
                    "SELECT count(*), min(recorded_at) FROM eventstore_event "
                    "WHERE (tx_id, global_position) > (%s::text::xid8, %s)",
                    [after.tx_id, after.position],
                )
            else:
                params: list[Any] = []
                for bucket in shard.buckets:
                    params += [bucket, after.tx_id, after.position]
                if shard.forgets:
                    params += [after.tx_id, after.position, list(shard.buckets)]
                cursor.execute(shard_backlog_sql(len(shard.buckets), shard.forgets), params)
            count, oldest = cursor.fetchone() or (0, None)
        return Backlog(int(count), None if oldest is None else aware(oldest))


def _constraint(exc: DatabaseError) -> str | None:
    """The constraint a database error names (psycopg's diagnostics, under Django's error)."""
    diag = getattr(exc.__cause__, "diag", None)
    return diag.constraint_name if diag is not None else None
