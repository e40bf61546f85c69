"""The event store API: append to a stream with an expected version, read a stream, follow the log.

Only this module writes eventstore_event. On PostgreSQL an append is one statement (version check
and multi-row insert together) and the log is read in (tx_id, global_position) order below the
oldest running transaction, so a follower never skips an event that commits late. On SQLite,
writers are serialized (IMMEDIATE transactions), so plain position order is already safe.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any, Final, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common.db import fetch, json_loads
from common.metrics import EVENTS_APPENDED
from eventstore.models import Event
from eventstore.upcasting import upcast

ANY: Final = "any"
NO_STREAM: Final = "no_stream"
ExpectedVersion = int | Literal["any", "no_stream"]

_STREAM_VERSION_CONSTRAINT: Final = "eventstore_stream_version"


class EventStoreError(Exception):
    """Base class of the event store's errors."""


class ConcurrencyError(EventStoreError):
    """The stream's version is not the one the writer expected (or another writer won a race)."""

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int | None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        actual_text = "another writer appended concurrently" if actual is None else str(actual)
        super().__init__(
            f"Stream {stream_id!r}: expected version {expected}, actual version {actual_text}"
        )


class DuplicateEventError(EventStoreError):
    """An event with the same event_id is already in the log."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    event_type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = 1
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    global_position: int
    event_id: uuid.UUID
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    tx_id: int = 0

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.tx_id, self.global_position)


@dataclass(frozen=True, slots=True, order=True)
class Checkpoint:
    """A place in the log: everything at or before (tx_id, position) has been read.

    tx_id is the writing transaction's id on PostgreSQL and always 0 on SQLite.
    """

    tx_id: int = 0
    position: int = 0


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: str
    version: int
    positions: tuple[int, ...]

    @property
    def last_position(self) -> int:
        return self.positions[-1]


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


_ENCODER: Final = DjangoJSONEncoder(separators=(",", ":"))


def _dumps(value: Mapping[str, Any]) -> str:
    return _ENCODER.encode(value)


def _loads(value: Any) -> dict[str, Any]:
    """A stored payload as a dict; PostgreSQL's binary results (eventstore.sql) are parsed
    already, and the ORM's are fresh dicts: only text needs parsing."""
    if isinstance(value, (str, bytes)):
        loaded: dict[str, Any] = json_loads(value)
        return loaded
    return value  # type: ignore[no-any-return]


def _expected_number(expected: ExpectedVersion) -> int | None:
    if expected == ANY:
        return None
    if expected == NO_STREAM:
        return 0
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise ValueError(
            f"expected_version must be 'any', 'no_stream' or an int >= 0, not {expected!r}"
        )
    return expected


# Versions follow the expected version N. The stream must hold version N (unless N = 0) and not
# N + 1: when either check fails nothing is inserted and the caller learns the actual version.
# Two writers racing past the checks together are stopped by UNIQUE(stream_id, version).
# One statement text per number of events, so each is prepared once per connection.
_PG_APPEND_ROW: Final = "(%s::uuid, %s::int, %s::text, %s::int, %s::jsonb, %s::jsonb)"


@cache
def _pg_append_sql(count: int) -> str:  # only the number of placeholder rows varies
    return f"""
INSERT INTO eventstore_event (event_id, stream_id, stream_type, version, event_type,
                              schema_version, data, metadata, recorded_at)
SELECT v.id, %s::text, %s::text, v.version, v.type, v.sv, v.data, v.meta, %s::timestamptz
FROM (VALUES {", ".join([_PG_APPEND_ROW] * count)}) AS v(id, version, type, sv, data, meta)
WHERE (%s::int = 0 OR EXISTS (
        SELECT 1 FROM eventstore_event WHERE stream_id = %s::text AND version = %s::int))
  AND NOT EXISTS (
        SELECT 1 FROM eventstore_event WHERE stream_id = %s::text AND version = %s::int + 1)
RETURNING global_position, version
"""  # noqa: S608


def append_to_stream(
    stream_id: str,
    stream_type: str,
    events: Sequence[NewEvent],
    *,
    expected_version: ExpectedVersion,
) -> AppendResult:
    """Append ``events`` to ``stream_id`` atomically if its version is ``expected_version``.

    Joins the caller's transaction when there is one (so the caller can record more in it).
    Raises ConcurrencyError on a version mismatch and DuplicateEventError on a reused event_id.
    """
    if not events:
        raise ValueError("append_to_stream needs at least one event")
    if not stream_id or len(stream_id) > 255:
        raise ValueError("stream_id must be 1..255 characters")
    expected = _expected_number(expected_version)
    retries = 3 if expected is None and not connection.in_atomic_block else 1
    for attempt in range(retries):
        try:
            with transaction.atomic(savepoint=False):
                append = _append_postgres if _is_postgres() else _append_sqlite
                result = append(stream_id, stream_type, events, expected, expected_version)
                # Counted when (and only if) the caller's transaction commits.
                transaction.on_commit(partial(EVENTS_APPENDED.labels(stream_type).inc, len(events)))
                return result
        except IntegrityError as exc:
            if _is_version_conflict(exc):
                if attempt + 1 < retries:
                    continue
                # Outside a caller's transaction ours has rolled back, so the stream can be read.
                actual = None if connection.in_atomic_block else current_version(stream_id)
                raise ConcurrencyError(stream_id, expected_version, actual) from exc
            if "event_id" in str(exc):
                raise DuplicateEventError(
                    f"An event with one of these ids is already stored: "
                    f"{', '.join(str(e.event_id) for e in events)}"
                ) from exc
            raise
    raise AssertionError("unreachable")


def _is_version_conflict(exc: IntegrityError) -> bool:
    message = str(exc)  # PostgreSQL names the constraint; SQLite names the columns
    return _STREAM_VERSION_CONSTRAINT in message or "eventstore_event.version" in message


def _append_postgres(
    stream_id: str,
    stream_type: str,
    events: Sequence[NewEvent],
    expected: int | None,
    expected_version: ExpectedVersion,
) -> AppendResult:
    start = current_version(stream_id) if expected is None else expected
    params: list[Any] = [stream_id, stream_type, timezone.now()]
    for version, e in enumerate(events, start=start + 1):
        params += [
            e.event_id,
            version,
            e.event_type,
            e.schema_version,
            _dumps(e.data),
            _dumps(e.metadata),
        ]
    params += [start, stream_id, start, stream_id, start]
    rows = fetch(_pg_append_sql(len(events)), params)
    if not rows:  # the stream is not at the expected version
        raise ConcurrencyError(stream_id, expected_version, current_version(stream_id))
    rows.sort(key=lambda row: row[1])
    return AppendResult(stream_id, rows[-1][1], tuple(row[0] for row in rows))


def _append_sqlite(
    stream_id: str,
    stream_type: str,
    events: Sequence[NewEvent],
    expected: int | None,
    expected_version: ExpectedVersion,
) -> AppendResult:
    current = current_version(stream_id)
    if expected is not None and current != expected:
        raise ConcurrencyError(stream_id, expected_version, current)
    now = timezone.now()
    created = Event.objects.bulk_create(
        [
            Event(
                event_id=e.event_id,
                stream_id=stream_id,
                stream_type=stream_type,
                version=current + i,
                event_type=e.event_type,
                schema_version=e.schema_version,
                data=dict(e.data),
                metadata=dict(e.metadata),
                recorded_at=now,
            )
            for i, e in enumerate(events, start=1)
        ]
    )
    return AppendResult(stream_id, current + len(events), tuple(e.global_position for e in created))


_CURRENT_VERSION: Final = (
    "SELECT coalesce(max(version), 0) FROM eventstore_event WHERE stream_id = %s::text"
)


def current_version(stream_id: str) -> int:
    """The number of events in the stream (0 when it does not exist)."""
    sql = _CURRENT_VERSION if _is_postgres() else _CURRENT_VERSION.removesuffix("::text")
    return int(fetch(sql, [stream_id])[0][0])


def _recorded(event: Event, *, metadata: bool = True) -> RecordedEvent:
    """An ORM row (SQLite paths) as a RecordedEvent; there is no transaction id to tell."""
    return _row_to_event(
        (
            event.global_position,
            event.event_id,
            event.stream_id,
            event.stream_type,
            event.version,
            event.event_type,
            event.schema_version,
            event.data,
            event.metadata if metadata else None,
            event.recorded_at,
            0,
        )
    )


MAX_VERSION: Final = 2**31 - 1
_PG_READ_STREAM: Final = """
SELECT global_position, event_id, stream_id, stream_type, version, event_type, schema_version,
       data, metadata, recorded_at, tx_id::text::bigint
FROM eventstore_event
WHERE stream_id = %s::text AND version <= %s::int AND recorded_at <= %s::timestamptz
ORDER BY version
"""


def read_stream(
    stream_id: str, *, to_version: int | None = None, until: datetime | None = None
) -> list[RecordedEvent]:
    """The stream's events in version order, optionally up to a version or a recorded time."""
    if _is_postgres():
        rows = fetch(
            _PG_READ_STREAM,
            [stream_id, MAX_VERSION if to_version is None else to_version, until or "infinity"],
        )
        return [_row_to_event(row) for row in rows]
    events = Event.objects.filter(stream_id=stream_id).order_by("version")
    if to_version is not None:
        events = events.filter(version__lte=to_version)
    if until is not None:
        events = events.filter(recorded_at__lte=until)
    return [_recorded(e) for e in events]


# The horizon: the oldest transaction still in progress in this statement's snapshot, leaving
# out the ones pg_stat_activity shows running in *other* databases (they can't write here, and
# the snapshot's xmin is cluster-wide). Only positively identified ones are left out: an xid
# whose owner is unknown (finished meanwhile, or hidden from an unprivileged role) still counts.
_PG_READ_ALL: Final = """
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
)
SELECT e.global_position, e.event_id, e.stream_id, e.stream_type, e.version, e.event_type,
       e.schema_version, e.data, {metadata}, e.recorded_at, e.tx_id::text::bigint AS tx_number
FROM eventstore_event AS e
WHERE (e.tx_id, e.global_position) > (%s::bigint::text::xid8, %s::bigint)
  AND e.tx_id < (SELECT h FROM horizon)
ORDER BY e.tx_id, e.global_position  -- the table's columns: the (tx_id, position) index order
LIMIT %s::int
"""


_PG_READ_ALL_SQL: Final = {
    True: _PG_READ_ALL.format(metadata="e.metadata"),
    False: _PG_READ_ALL.format(metadata="NULL"),
}


def read_all(
    after: Checkpoint = Checkpoint(), *, limit: int = 500, metadata: bool = True
) -> list[RecordedEvent]:
    """The next events of the whole log after ``after``, in an order safe to checkpoint.

    A follower that checkpoints the last event's ``checkpoint`` and calls again never skips an
    event and never sees one twice, whatever order concurrent writers commit in. With
    ``metadata`` False the events' metadata is left unread (empty): parsing it is a good part
    of a read, and most projections never look at it.
    """
    if _is_postgres():
        rows = fetch(_PG_READ_ALL_SQL[metadata], [after.tx_id, after.position, limit])
        return [_row_to_event(row) for row in rows]
    events = Event.objects.filter(global_position__gt=after.position).order_by("global_position")
    if not metadata:
        events = events.defer("metadata")
    return [_recorded(e, metadata=metadata) for e in events[:limit]]


def _row_to_event(row: Sequence[Any]) -> RecordedEvent:
    """Columns in _PG_READ_ALL's order; payloads upcast to their current schema version."""
    event_type, raw_version = row[5], row[6]
    schema_version, data = upcast(event_type, raw_version, _loads(row[7]))
    recorded_at = row[9]
    if timezone.is_naive(recorded_at):
        recorded_at = timezone.make_aware(recorded_at, UTC)
    return RecordedEvent(
        global_position=row[0],
        event_id=row[1] if isinstance(row[1], uuid.UUID) else uuid.UUID(str(row[1])),
        stream_id=row[2],
        stream_type=row[3],
        version=row[4],
        event_type=event_type,
        schema_version=schema_version,
        data=data,
        metadata={} if row[8] is None else _loads(row[8]),
        recorded_at=recorded_at,
        tx_id=row[10],
    )


def checkpoint_at(position: int) -> Checkpoint | None:
    """The checkpoint at which the event at ``position`` counts as read (None if no such event)."""
    if _is_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tx_id::text::bigint FROM eventstore_event WHERE global_position = %s",
                [position],
            )
            row = cursor.fetchone()
        return Checkpoint(row[0], position) if row else None
    exists = Event.objects.filter(global_position=position).exists()
    return Checkpoint(0, position) if exists else None


def head_position() -> int:
    """The highest global position in the log (0 when it is empty)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(global_position), 0) FROM eventstore_event")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a follower at some checkpoint has not read yet."""

    events: int
    oldest_recorded_at: datetime | None


def backlog(after: Checkpoint) -> Backlog:
    """How many committed events lie after ``after``, and when the oldest of them was recorded."""
    if _is_postgres():
        sql = (
            "SELECT count(*), min(recorded_at) FROM eventstore_event "
            "WHERE (tx_id, global_position) > (%s::text::xid8, %s)"
        )
        params: list[Any] = [after.tx_id, after.position]
    else:
        sql = "SELECT count(*), min(recorded_at) FROM eventstore_event WHERE global_position > %s"
        params = [after.position]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count, oldest = cursor.fetchone() or (0, None)
    if isinstance(oldest, str):
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and timezone.is_naive(oldest):
        oldest = timezone.make_aware(oldest, UTC)
    return Backlog(int(count), oldest)


EXPORT_FIELDS: Final = (
    "global_position",
    "event_id",
    "stream_id",
    "stream_type",
    "version",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
)


def export_records(
    stream_id: str | None = None, *, chunk_size: int = 2000
) -> Iterable[dict[str, Any]]:
    """The stored rows as plain dicts in position order, payloads as stored (not upcast)."""
    events = Event.objects.order_by("global_position")
    if stream_id is not None:
        events = events.filter(stream_id=stream_id)
    for row in events.values(*EXPORT_FIELDS).iterator(chunk_size=chunk_size):
        yield {
            **row,
            "event_id": str(row["event_id"]),
            "recorded_at": row["recorded_at"].isoformat(),
        }


def import_records(records: Sequence[Mapping[str, Any]]) -> int:
    """Write exported rows into the log, keeping their ids, positions, versions and payloads.

    Used only by ``eventstore_import`` on an empty store. Each call is one transaction; callers
    import in position order, so later batches get later transaction ids, keeping read order.
    """
    rows = [
        Event(
            global_position=int(r["global_position"]),
            event_id=uuid.UUID(str(r["event_id"])),
            stream_id=r["stream_id"],
            stream_type=r["stream_type"],
            version=int(r["version"]),
            event_type=r["event_type"],
            schema_version=int(r["schema_version"]),
            data=r["data"],
            metadata=r["metadata"],
            recorded_at=datetime.fromisoformat(r["recorded_at"]),
        )
        for r in records
    ]
    with transaction.atomic():
        Event.objects.bulk_create(rows)
    return len(rows)


def reset_position_sequence() -> None:
    """After an import with explicit positions, make new appends continue after the highest one."""
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), [Event])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
