"""The interface every event store backend implements, and the row decoding they share."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.db import DatabaseError, connection
from django.utils import timezone

from common.db import json_loads
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
from eventstore.upcasting import Payload, StreamUpcasting


class EventStoreBackend(ABC):
    """What eventstore.store needs from one database; nothing above a backend asks which one.

    Every method runs on Django's default connection, inside the caller's transaction if any.
    """

    # Whether ``append`` is one statement (the command's record included): outside a
    # transaction it then commits by itself, with no BEGIN and COMMIT of its own.
    appends_in_one_statement: ClassVar[bool] = False

    @abstractmethod
    def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[NewEvent],
        expected: int | None,
        expected_version: ExpectedVersion,
        *,
        record: CommandRecord | None,
    ) -> AppendResult:
        """Insert ``events`` as the stream's next versions, inside an open transaction, and
        ``record`` in the same statement if this backend can (AppendResult.record_written).

        ``expected`` is the stream's version the caller expects (None: whatever it is);
        ConcurrencyError (naming ``expected_version``) when it is not, and nothing stored.
        A writer racing past the check may instead end in an IntegrityError on
        (stream_id, version) (or, in a transaction appending to several streams, a deadlock on
        it), which ``is_version_conflict`` recognises.
        """

    @abstractmethod
    def is_version_conflict(self, exc: DatabaseError) -> bool:
        """Whether ``exc`` is a writer losing a race for a stream's next version."""

    @abstractmethod
    def is_duplicate_event(self, exc: DatabaseError) -> bool:
        """Whether ``exc`` is an event id stored already (named by the constraint, not found in
        a message that also quotes the values)."""

    @abstractmethod
    def current_version(self, stream_id: str) -> int:
        """The number of events in the stream (0 when it does not exist)."""

    @abstractmethod
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
        """The stream's events in version order from ``from_version``, up to a version or a
        recorded time; with ``metadata`` False their metadata is left unread (empty).
        ``also``: an earlier version whose event comes first, read in the same round trip
        where the backend can."""

    @abstractmethod
    def read_stream_payloads(
        self, stream_id: str, from_version: int, to_version: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """The stream's (event_type, data upcast) in version order."""

    @abstractmethod
    def read_all(
        self, after: Checkpoint, limit: int, metadata: bool, shard: Shard
    ) -> list[RecordedEvent]:
        """Up to ``limit`` committed events of ``shard`` after ``after``, in an order safe to
        checkpoint."""

    @abstractmethod
    def read_matching(
        self,
        after: Checkpoint,
        limit: int,
        event_types: Sequence[str],
        stream_types: Sequence[str],
        scan: int,
    ) -> tuple[list[RecordedEvent], Checkpoint | None]:
        """Of the next ``scan`` committed events after ``after`` (in read_all's order), the
        first ``limit`` whose type is one of ``event_types`` and whose stream type is one of
        ``stream_types`` (empty: any), and the checkpoint of the last of the ``scan`` (None
        when there is none), both from one snapshot of the log."""

    @abstractmethod
    def checkpoint_now(self) -> Checkpoint:
        """A checkpoint after every event visible now and before every event not visible yet."""

    @abstractmethod
    def checkpoint_at(self, position: int) -> Checkpoint | None:
        """The checkpoint of the event at ``position`` (None if there is none)."""

    @abstractmethod
    def any_between(self, after: Checkpoint, until: Checkpoint, shard: Shard) -> bool:
        """Whether ``shard`` has a committed event after ``after`` and at or before ``until``."""

    @abstractmethod
    def backlog(self, after: Checkpoint, shard: Shard) -> Backlog:
        """How many events of ``shard`` lie after ``after`` and when the oldest of them was
        recorded."""

    def upcasting(self) -> StreamUpcasting:
        """Upcasting for one read (upcasters that need a stream's earlier events read them here)."""
        return StreamUpcasting(self.earlier_events)

    def earlier_events(
        self, stream_id: str, from_version: int, to_version: int, event_types: frozenset[str]
    ) -> list[tuple[int, str, int, Payload]]:
        """The stream's stored events of ``event_types`` from and up to a version, in order, as
        (version, event_type, schema_version, payload): what a stream upcaster folds."""
        rows = (
            Event.objects.filter(
                stream_id=stream_id,
                version__gte=from_version,
                version__lte=to_version,
                event_type__in=sorted(event_types),
            )
            .order_by("version")
            .values_list("version", "event_type", "schema_version", "data")
        )
        return [(v, t, sv, _loads(data)) for v, t, sv, data in rows]

    def head_position(self) -> int:
        """The highest global position in the log (0 when it is empty)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(global_position), 0) FROM eventstore_event")
            row = cursor.fetchone()
        return int(row[0]) if row else 0


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone (UTC when the database gave a naive one)."""
    # (tzinfo, not utcoffset(): a zone's offset is worked out per call, thousands per page)
    return timezone.make_aware(moment, UTC) if moment.tzinfo is None else moment


def _loads(value: Any) -> dict[str, Any]:
    """A stored payload as a dict; PostgreSQL's binary results (common.db) are parsed
    already, and the ORM's are fresh dicts: only text needs parsing."""
    if isinstance(value, (str, bytes)):
        loaded: dict[str, Any] = json_loads(value)
        return loaded
    return value  # type: ignore[no-any-return]


def row_to_payload(
    row: Sequence[Any], stream_id: str, version: int, upcasting: StreamUpcasting
) -> tuple[str, dict[str, Any]]:
    """Columns event_type, schema_version, data of the stream's event ``version``: the type
    and the payload upcast."""
    return row[0], upcasting(stream_id, version, row[0], row[1], _loads(row[2]))[1]


def row_to_event(row: Sequence[Any], upcasting: StreamUpcasting) -> RecordedEvent:
    """Columns global_position, event_id, stream_id, stream_type, version, event_type,
    schema_version, data, metadata (None: left unread), recorded_at, tx_id; payloads upcast
    to their current schema version (``upcasting``: the read's, rows in the read's order)."""
    event_type, raw_version = row[5], row[6]
    schema_version, data = upcasting(row[2], row[4], event_type, raw_version, _loads(row[7]))
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
        recorded_at=aware(row[9]),
        tx_id=row[10],
    )
