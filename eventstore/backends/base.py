"""The interface every event store backend implements, and the row decoding they share."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.db import DatabaseError, connection
from django.utils import timezone

from common.db import json_loads
from eventstore import personal
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
        sealed_with: tuple[str, bytes] | None = None,
        key_stored: bool = False,
    ) -> AppendResult:
        """Insert ``events`` as the stream's next versions, inside an open transaction, and
        ``record`` in the same statement if this backend can (AppendResult.record_written).
        ``key_stored``: the ``sealed_with`` key was the subject's stored key when last seen
        (it is checked all the same; only its first insert is left out).

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

    def streams_in(self, stream_ids: Collection[str], shard: Shard) -> set[str]:
        """Those of ``stream_ids`` whose events ``shard`` (not the whole log) holds."""
        raise ValueError(f"This database reads the log as one shard, not as shard {shard}")

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

    # --- personal data (eventstore.personal) ---------------------------------------------------
    # Whether ``append`` takes a ``sealed_with`` (subject, key) and appends nothing, raising
    # SealingKeyRejected, unless that key is still the subject's in the key table (inserting
    # it, in the same statement, when the subject has none yet).
    checks_sealing_keys: ClassVar[bool] = False

    def personal_keys(self, subjects: Collection[str]) -> dict[str, bytes | None]:
        """The subjects' keys (None: forgotten; absent: never had one), read now."""
        from eventstore.models import PersonalKey

        rows = PersonalKey.objects.filter(subject_id__in=list(subjects)).values_list(
            "subject_id", "key"
        )
        return {subject: None if key is None else bytes(key) for subject, key in rows}

    def sealing_key(self, subject: str) -> bytes | None:
        """``subject``'s key, made now if it has none; None if the subject is forgotten."""
        from eventstore.models import PersonalKey

        PersonalKey.objects.bulk_create(
            [PersonalKey(subject_id=subject, key=personal.new_key(), created_at=timezone.now())],
            ignore_conflicts=True,
        )
        key = PersonalKey.objects.filter(subject_id=subject).values_list("key", flat=True).get()
        return None if key is None else bytes(key)

    def stream_subject(self, stream_id: str) -> str | None:
        """The data subject of the stream's sealed personal fields (its first such event's)."""
        from eventstore.models import Event

        data = (
            Event.objects.filter(stream_id=stream_id, data__has_key=personal.SEALED)
            .order_by("version")
            .values_list("data", flat=True)
            .first()
        )
        return None if data is None else personal.subject_of_sealed(data)

    def events_of(
        self, rows: Sequence[Sequence[Any]], *, keep_keys: bool = False
    ) -> list[RecordedEvent]:
        """``row_to_event`` of each row (in the read's order), personal fields opened with keys
        read once, payloads upcast. ``keep_keys`` (a stream's read, as a command's load): the
        keys read are kept for this process's next appends (personal.append_keys, a hint the
        append checks), so the command's append need not guess its customer's key."""
        keys = self._keys_for(rows, 7)
        if keep_keys:
            for subject, key in keys.items():
                if key is not None:
                    personal.append_keys.put(subject, key)
        upcasting = self.upcasting()
        return [row_to_event(row, upcasting, keys) for row in rows]

    def payloads_of(
        self, rows: Sequence[Sequence[Any]], stream_id: str, from_version: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """``row_to_payload`` of each row (the stream's events from ``from_version``, in
        version order), personal fields opened with keys read once, payloads upcast."""
        keys = self._keys_for(rows, 2)
        upcasting = self.upcasting()
        return [
            row_to_payload(row, stream_id, version, upcasting, keys)
            for version, row in enumerate(rows, start=max(from_version, 1))
        ]

    def _keys_for(self, rows: Sequence[Sequence[Any]], column: int) -> Mapping[str, bytes | None]:
        wanted = personal.subjects(
            _loads(row[column])
            for row in rows
            if not isinstance(row[column], (str, bytes)) or b"_sealed" in _bytes(row[column])
        )
        return self.personal_keys(wanted) if wanted else _NO_KEYS

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


_NO_KEYS: Mapping[str, bytes | None] = {}


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _opened(value: Any, keys: Mapping[str, bytes | None]) -> dict[str, Any]:
    """A stored payload parsed, its personal fields opened (eventstore.personal)."""
    data = _loads(value)  # parsed for this read alone: opened in place
    return personal.open_sealed(data, keys, in_place=True) if personal.SEALED in data else data


def row_to_payload(
    row: Sequence[Any],
    stream_id: str,
    version: int,
    upcasting: StreamUpcasting,
    keys: Mapping[str, bytes | None] = _NO_KEYS,
) -> tuple[str, dict[str, Any]]:
    """Columns event_type, schema_version, data of the stream's event ``version``: the type
    and the payload opened (with ``keys``) and upcast."""
    return row[0], upcasting(stream_id, version, row[0], row[1], _opened(row[2], keys))[1]


def row_to_event(
    row: Sequence[Any],
    upcasting: StreamUpcasting,
    keys: Mapping[str, bytes | None] = _NO_KEYS,
) -> RecordedEvent:
    """Columns global_position, event_id, stream_id, stream_type, version, event_type,
    schema_version, data, metadata (None: left unread), recorded_at, tx_id; payloads opened
    with ``keys`` (personal fields of subjects not in it read "[erased]") and upcast to their
    current schema version (``upcasting``: the read's, rows in the read's order)."""
    event_type, raw_version = row[5], row[6]
    schema_version, data = upcasting(row[2], row[4], event_type, raw_version, _opened(row[7], keys))
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
