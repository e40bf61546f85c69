"""The SQLite backend: writers are serialized, so plain position order is commit order.

The log is one shard here (projections run a single shard each on SQLite).

Settings open every SQLite transaction IMMEDIATE (config/settings.py): a writer holds the
database's write lock from its first statement to its commit, so positions become visible in
the order they were taken and a follower may page by global_position here, and only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from django.db import DatabaseError, IntegrityError, connection
from django.utils import timezone

from common.db import fetch
from eventstore.backends.base import EventStoreBackend, aware
from eventstore.errors import ConcurrencyError
from eventstore.models import Event
from eventstore.records import (
    AppendResult,
    Backlog,
    Checkpoint,
    CommandRecord,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Shard,
)

_CURRENT_VERSION: Final = (
    "SELECT coalesce(max(version), 0) FROM eventstore_event WHERE stream_id = %s"
)


def _row(event: Event, *, metadata: bool = True) -> tuple[Any, ...]:
    """An ORM row as row_to_event's columns; there is no transaction id to tell."""
    return (
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


def _whole_log_only(shard: Shard) -> None:
    # One writer at a time and one process (the embedded default): nothing to shard.
    if not shard.whole:
        raise ValueError(f"SQLite reads the log as one shard, not as shard {shard}")


class SQLiteBackend(EventStoreBackend):
    def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[NewEvent],
        expected: int | None,
        expected_version: ExpectedVersion,
        *,
        record: CommandRecord | None,  # not written here: the caller writes it itself
        sealed_with: tuple[str, bytes] | None = None,  # never given: checks_sealing_keys
        key_stored: bool = False,
    ) -> AppendResult:
        current = self.current_version(stream_id)
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
        positions = tuple(e.global_position for e in created)
        return AppendResult(stream_id, current + len(events), positions, recorded_at=now)

    def is_version_conflict(self, exc: DatabaseError) -> bool:
        # SQLite names the columns; its serialized writers never deadlock.
        return isinstance(exc, IntegrityError) and "eventstore_event.version" in str(exc)

    def is_duplicate_event(self, exc: DatabaseError) -> bool:
        # SQLite's message names the columns and quotes no values.
        return isinstance(exc, IntegrityError) and "eventstore_event.event_id" in str(exc)

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
        events = Event.objects.filter(stream_id=stream_id, version__gte=from_version)
        events = events.order_by("version")
        if to_version is not None:
            events = events.filter(version__lte=to_version)
        if until is not None:
            events = events.filter(recorded_at__lte=until)
        rows = list(events)
        if also is not None:
            rows = list(Event.objects.filter(stream_id=stream_id, version=also)) + rows
        return self.events_of([_row(e, metadata=metadata) for e in rows])

    def read_stream_payloads(
        self, stream_id: str, from_version: int, to_version: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        events = Event.objects.filter(stream_id=stream_id, version__gte=from_version)
        if to_version is not None:
            events = events.filter(version__lte=to_version)
        rows = events.order_by("version").values_list("event_type", "schema_version", "data")
        return self.payloads_of(list(rows), stream_id, from_version)

    def read_all(
        self, after: Checkpoint, limit: int, metadata: bool, shard: Shard
    ) -> list[RecordedEvent]:
        _whole_log_only(shard)
        events = Event.objects.filter(global_position__gt=after.position)
        events = events.order_by("global_position")
        if not metadata:
            events = events.defer("metadata")
        return self.events_of([_row(e, metadata=metadata) for e in events[:limit]])

    def read_matching(
        self,
        after: Checkpoint,
        limit: int,
        event_types: Sequence[str],
        stream_types: Sequence[str],
        scan: int,
    ) -> tuple[list[RecordedEvent], Checkpoint | None]:
        scanned = list(
            Event.objects.filter(global_position__gt=after.position)
            .order_by("global_position")
            .values_list("global_position", "event_type", "stream_type")[:scan]
        )
        types, streams = set(event_types), set(stream_types)
        matched = [
            position
            for position, event_type, stream_type in scanned
            if (not types or event_type in types) and (not streams or stream_type in streams)
        ][:limit]
        # Rows once seen stay as they were (the log is append-only): a second read is safe.
        found = Event.objects.filter(global_position__in=matched).order_by("global_position")
        tail = Checkpoint(0, scanned[-1][0]) if scanned else None
        return self.events_of([_row(e) for e in found]), tail

    def checkpoint_now(self) -> Checkpoint:
        return Checkpoint(0, self.head_position())

    def checkpoint_at(self, position: int) -> Checkpoint | None:
        exists = Event.objects.filter(global_position=position).exists()
        return Checkpoint(0, position) if exists else None

    def any_between(self, after: Checkpoint, until: Checkpoint, shard: Shard) -> bool:
        _whole_log_only(shard)
        events = Event.objects.filter(global_position__gt=after.position)
        return events.filter(global_position__lte=until.position).exists()

    def backlog(self, after: Checkpoint, shard: Shard) -> Backlog:
        _whole_log_only(shard)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), min(recorded_at) FROM eventstore_event "
                "WHERE global_position > %s",
                [after.position],
            )
            count, oldest = cursor.fetchone() or (0, None)
        if isinstance(oldest, str):  # min() over a column loses Django's converter
            oldest = datetime.fromisoformat(oldest)
        return Backlog(int(count), None if oldest is None else aware(oldest))
