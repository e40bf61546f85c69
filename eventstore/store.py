"""The event store API: append to a stream with an expected version, read a stream, follow the log.

Only this module (through its backend) writes eventstore_event. The database's own work lives in
one backend per database (eventstore.backends), chosen once from the settings; this module
checks arguments, owns the transaction and the retries, and never asks which database it is on.

Following the log: page with ``read_all`` by ``Checkpoint`` (each ``RecordedEvent.checkpoint``),
never by ``global_position`` alone. A position is taken when its row is inserted and becomes
visible when its transaction commits, so positions appear out of order: a follower that asks for
"positions above the highest I have seen" skips the events of slower transactions, and one that
goes back a little to be safe sees events twice. For the same reason ``head_position()`` is no
place to start following from; ``checkpoint_now()`` is. Each stream's events come in version
order, also when a transaction appends to several streams.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from functools import partial
from itertools import islice
from typing import Any, Final, NoReturn

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from common.metrics import EVENTS_APPENDED
from common.waits import BEYOND_HEAD, FRESH, bounded_wait
from eventstore import personal, wakeups
from eventstore.backends import backend
from eventstore.backends.base import EventStoreBackend
from eventstore.errors import (
    ConcurrencyError,
    DuplicateEventError,
    EventStoreError,
    SealingKeyRejected,
    SubjectForgotten,
)
from eventstore.exports import RecordKind
from eventstore.models import Event, LogIdentity, PersonalKey
from eventstore.records import (
    ANY,
    BUCKETS,
    NO_STREAM,
    AppendResult,
    Backlog,
    Checkpoint,
    CommandRecord,
    ExpectedVersion,
    NewEvent,
    Page,
    RecordedEvent,
    Shard,
    valid_shard_count,
)

__all__ = [
    "ANY",
    "BUCKETS",
    "EXPORT_FIELDS",
    "NO_STREAM",
    "AppendResult",
    "Backlog",
    "Checkpoint",
    "CommandRecord",
    "ConcurrencyError",
    "DuplicateEventError",
    "EventStoreError",
    "ExpectedVersion",
    "Forgetting",
    "NewEvent",
    "Page",
    "RecordedEvent",
    "Shard",
    "SubjectForgotten",
    "any_between",
    "append_to_stream",
    "appends_in_one_statement",
    "backlog",
    "checkpoint_at",
    "checkpoint_now",
    "current_version",
    "export_records",
    "forget_subject",
    "forgotten",
    "head_position",
    "import_records",
    "log_identity",
    "on_subject_forgotten",
    "open_personal_data",
    "read_all",
    "read_all_matching",
    "read_stream",
    "read_stream_payloads",
    "reset_position_sequence",
    "streams_in",
    "valid_shard_count",
    "wait_for_commit",
]


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


def append_to_stream(
    stream_id: str,
    stream_type: str,
    events: Sequence[NewEvent],
    *,
    expected_version: ExpectedVersion,
    record: CommandRecord | None = None,
) -> AppendResult:
    """Append ``events`` to ``stream_id`` atomically if its version is ``expected_version``.

    Joins the caller's transaction when there is one (so the caller can record more in it).
    Raises ConcurrencyError on a version mismatch and DuplicateEventError on a reused event_id.
    ``record``: a keyed command's record, written by the same statement where the backend can
    (``record_written`` of the result says whether it was; see CommandRecord).

    Personal fields (eventstore.personal) are sealed with their subject's key, made at the
    subject's first event; SubjectForgotten (nothing appended) when the subject was forgotten.
    """
    if not events:
        raise ValueError("append_to_stream needs at least one event")
    if not stream_id or len(stream_id) > 255:
        raise ValueError("stream_id must be 1..255 characters")
    expected = _expected_number(expected_version)
    store = backend()
    if connection.in_atomic_block:
        # Inside the caller's transaction, without a block of our own (an empty nested atomic
        # costs ~30 µs). A failure dooms the caller's transaction, as a nested atomic without
        # savepoint would: Django will roll it back, whatever the caller does.
        try:
            result = _append(
                store, stream_id, stream_type, events, expected, expected_version, record
            )
            return _counted(result, stream_type, len(events))
        except BaseException as exc:
            transaction.set_rollback(True)
            if isinstance(exc, DatabaseError):
                _raise_store_error(exc, stream_id, expected_version, events, actual=None)
            raise
    retries = 3 if expected is None else 1
    for attempt in range(retries):
        try:
            # No block of our own where the append is one statement: it commits by itself.
            with nullcontext() if store.appends_in_one_statement else transaction.atomic():
                result = _append(
                    store, stream_id, stream_type, events, expected, expected_version, record
                )
                return _counted(result, stream_type, len(events))
        except DatabaseError as exc:
            if not store.is_version_conflict(exc):
                _raise_store_error(exc, stream_id, expected_version, events, actual=None)
            if attempt + 1 == retries:
                # Our append has rolled back, so the stream can be read.
                actual = store.current_version(stream_id)
                _raise_store_error(exc, stream_id, expected_version, events, actual=actual)
    raise AssertionError("unreachable")


def _append(  # noqa: PLR0917 - append_to_stream's arguments, passed on
    store: EventStoreBackend,
    stream_id: str,
    stream_type: str,
    events: Sequence[NewEvent],
    expected: int | None,
    expected_version: ExpectedVersion,
    record: CommandRecord | None,
) -> AppendResult:
    """The backend's append, the events' personal fields sealed first.

    Where the backend checks keys in its append statement (PostgreSQL), the key is this
    process's last one for the subject, which the statement only checks (a fresh one the first
    time, which the statement stores if the subject has none): one statement still. A key the
    statement rejects (another process made the subject's first, or the subject was
    forgotten) is read from the key table and the append tried again. Elsewhere the key is
    read (or made) first.
    """
    subject = _subject_of(store, stream_id, events)
    if subject is None:
        return store.append(
            stream_id, stream_type, events, expected, expected_version, record=record
        )
    keys = personal.append_keys
    if store.checks_sealing_keys:
        # The key this process last saw stored (only checked by the statement), then, if it
        # is refused or there is none, a fresh one (stored by the statement when the subject
        # has none yet: a database whose key table lost the kept one, or a first order).
        kept = keys.get(subject)
        tries = [(kept, True)] if kept is not None else []
        for key, stored in [*tries, (personal.new_key(), False)]:
            try:
                result = store.append(
                    stream_id,
                    stream_type,
                    _sealed(events, subject, key),
                    expected,
                    expected_version,
                    record=record,
                    sealed_with=(subject, key),
                    key_stored=stored,
                )
                keys.put(subject, key)
                return result
            except SealingKeyRejected:
                keys.drop(subject)
    found = store.sealing_key(subject)
    if found is None:
        raise SubjectForgotten(subject)
    key = found
    try:
        result = store.append(
            stream_id,
            stream_type,
            _sealed(events, subject, key),
            expected,
            expected_version,
            record=record,
            sealed_with=(subject, key) if store.checks_sealing_keys else None,
            key_stored=True,
        )
    except SealingKeyRejected:  # forgotten between the two statements
        raise SubjectForgotten(subject) from None
    if store.checks_sealing_keys:
        keys.put(subject, key)
    return result


def _subject_of(store: EventStoreBackend, stream_id: str, events: Sequence[NewEvent]) -> str | None:
    """The data subject of the events' personal fields (None: they hold none): the one an
    event names (``NewEvent.subject``, else its payload's subject field); for events naming
    none, the one the others of this append name, else the stream's."""
    named: set[str] = set()
    unnamed = False
    for e in events:
        fields = personal.personal_fields(e.event_type)
        if fields is None or not personal.has_personal_values(fields, e.data):
            continue
        subject = e.subject
        if subject is None and fields.subject_field is not None:
            value = e.data.get(fields.subject_field)
            subject = None if value is None else str(value)
        if subject is None:
            unnamed = True
        else:
            named.add(subject)
    if unnamed and not named:
        found = store.stream_subject(stream_id)
        if found is None:
            raise ValueError(
                "Events hold personal fields but name no data subject (give NewEvent.subject)"
            )
        named.add(found)
    if len(named) > 1:
        raise ValueError("One append holds personal fields of one data subject at most")
    return named.pop() if named else None


def _sealed(events: Sequence[NewEvent], subject: str, key: bytes) -> list[NewEvent]:
    """The events with their personal fields sealed (an event without any is kept as is)."""
    out = []
    for e in events:
        fields = personal.personal_fields(e.event_type)
        if fields is None or personal.SEALED in e.data:
            out.append(e)
            continue
        # (Built directly: dataclasses.replace costs more than the sealing.)
        data = personal.seal(e.data, fields, subject, key)
        out.append(
            NewEvent(e.event_type, data, e.metadata, e.schema_version, e.event_id, e.subject)
        )
    return out


def _counted(result: AppendResult, stream_type: str, count: int) -> AppendResult:
    """Count the appended events in the metrics and tell waiting followers (eventstore.wakeups)
    when (and only if) the transaction commits."""
    transaction.on_commit(partial(EVENTS_APPENDED.labels(stream_type).inc, count))
    transaction.on_commit(wakeups.announce_commit)
    return result


def _raise_store_error(
    exc: DatabaseError,
    stream_id: str,
    expected_version: ExpectedVersion,
    events: Sequence[NewEvent],
    *,
    actual: int | None,
) -> NoReturn:
    """Raise the event store's error for a failed append (``exc`` itself if it has none)."""
    if backend().is_version_conflict(exc):
        raise ConcurrencyError(stream_id, expected_version, actual) from exc
    if backend().is_duplicate_event(exc):
        raise DuplicateEventError(
            f"An event with one of these ids is already stored: "
            f"{', '.join(str(e.event_id) for e in events)}"
        ) from exc
    raise exc


def appends_in_one_statement() -> bool:
    """Whether an append (with its command record) is one statement here: outside a
    transaction it then commits by itself, so a caller whose only write it is needs no
    transaction around it."""
    return backend().appends_in_one_statement


def current_version(stream_id: str) -> int:
    """The number of events in the stream (0 when it does not exist)."""
    return backend().current_version(stream_id)


def read_stream(
    stream_id: str,
    *,
    from_version: int = 1,
    to_version: int | None = None,
    until: datetime | None = None,
    metadata: bool = True,
    also: int | None = None,
) -> list[RecordedEvent]:
    """The stream's events in version order, optionally from and up to a version or up to a
    recorded time (a page of a long stream). With ``metadata`` False their metadata is left
    unread (empty), as read_all can: a fold of the whole stream needs only the payloads.

    ``also``: a version below ``from_version`` whose event comes first in the answer, read in
    the same round trip (a snapshot's loader reads the one event its snapshot left out)."""
    if also is not None and not 1 <= also < from_version:
        raise ValueError("also must be a version below from_version")
    return backend().read_stream(stream_id, from_version, to_version, until, metadata, also=also)


def read_stream_payloads(
    stream_id: str, *, from_version: int = 1, to_version: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The stream's events as (event_type, data) in version order, payloads upcast: all that a
    fold of a long stream reads (less than half of read_stream's cost: no ids, times or
    metadata)."""
    return backend().read_stream_payloads(stream_id, from_version, to_version)


_LOG_START: Final = Checkpoint()  # a default ruff cannot see is immutable


_WHOLE_LOG: Final = Shard()


def read_all(
    after: Checkpoint = _LOG_START,
    *,
    limit: int = 500,
    metadata: bool = True,
    shard: Shard = _WHOLE_LOG,
) -> list[RecordedEvent]:
    """The next events of the whole log after ``after``, in an order safe to checkpoint.

    A follower that checkpoints the last event's ``checkpoint`` and calls again never skips an
    event and never sees one twice, whatever order concurrent writers commit in, and sees each
    stream's events in version order. The order is not ``global_position`` order: keep the
    whole checkpoint, never the position alone (see the module's docstring). With
    ``metadata`` False the events' metadata is left unread (empty): parsing it is a good part
    of a read, and most projections never look at it.

    With ``shard``, only that shard's events (every event of a stream is in one shard), in the
    same order: a follower of one shard checkpoints and calls again as for the whole log.
    Only PostgreSQL splits the log into shards; elsewhere it is one shard.
    """
    return backend().read_all(after, limit, metadata, shard)


def read_all_matching(
    after: Checkpoint = _LOG_START,
    *,
    limit: int = 500,
    event_types: Sequence[str] = (),
    stream_types: Sequence[str] = (),
    scan: int = 10_000,
) -> Page:
    """``read_all`` keeping only events of ``event_types`` in streams of ``stream_types`` (each
    empty: any), and the checkpoint to read on from.

    The checkpoint is past the events returned and past those left out on the way, so a
    follower of a rare type does not read the same stretch of the log again; at most ``scan``
    events are looked at (a page may then be empty with the checkpoint moved on).
    """
    if not event_types and not stream_types:
        events = read_all(after, limit=limit)
        return Page(events, events[-1].checkpoint if events else after)
    events, last_scanned = backend().read_matching(
        after, limit, sorted(set(event_types)), sorted(set(stream_types)), max(scan, limit)
    )
    if len(events) == limit:
        return Page(events, events[-1].checkpoint)
    return Page(events, last_scanned or after)


def log_identity() -> uuid.UUID:
    """This database's log's random id (made by migration; again if a test emptied its table)."""
    identity, _ = LogIdentity.objects.get_or_create(id=1)
    return identity.value


def checkpoint_at(position: int) -> Checkpoint | None:
    """The checkpoint at which the event at ``position`` counts as read (None if no such event)."""
    return backend().checkpoint_at(position)


def checkpoint_now() -> Checkpoint:
    """Where a follower that starts "from now" begins: ``read_all(checkpoint_now())`` later
    returns every event committed by another transaction after this call (and events committed
    shortly before it, not yet in their place in the order; never one twice)."""
    return backend().checkpoint_now()


def wait_for_commit(position: int, timeout: float) -> str:
    """Wait up to ``timeout`` seconds until the event at ``position`` is committed (a reader
    of the log itself then sees it): common.waits' FRESH, STALE, BUSY (no wait slot free), or
    BEYOND_HEAD at once for a position no event has taken yet (no client can be waiting for
    its own write there)."""
    deadline = time.monotonic() + timeout
    if position == 0 or checkpoint_at(position) is not None:
        return FRESH
    if position > head_position():
        return BEYOND_HEAD
    return bounded_wait(lambda: checkpoint_at(position) is not None, deadline)


def head_position() -> int:
    """The highest global position in the log (0 when it is empty).

    A measure of the log's length (progress, lag), not a place to follow from: an event with
    a lower position may still be committed after this call. Start followers at
    ``checkpoint_now()`` instead.
    """
    return backend().head_position()


def any_between(after: Checkpoint, until: Checkpoint, *, shard: Shard = _WHOLE_LOG) -> bool:
    """Whether ``shard`` holds a committed event after ``after`` and at or before ``until``:
    a follower of the shard at ``after`` has applied everything of it up to ``until`` if not
    (once every event up to ``until`` is committed: ``checkpoint_now() >= until``)."""
    return backend().any_between(after, until, shard)


def streams_in(stream_ids: Collection[str], shard: Shard) -> set[str]:
    """Those of ``stream_ids`` whose events ``shard`` holds (all of them for the whole log)."""
    if shard.whole or not stream_ids:
        return set(stream_ids)
    return backend().streams_in(stream_ids, shard)


def backlog(after: Checkpoint, *, shard: Shard = _WHOLE_LOG) -> Backlog:
    """How many committed events (of ``shard``) lie after ``after``, and when the oldest of them
    was recorded."""
    return backend().backlog(after, shard)


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
    stream_id: str | None = None, *, chunk_size: int = 2000, as_stored: bool = False
) -> Iterable[dict[str, Any]]:
    """The stored rows as plain dicts in position order, payloads upcast to their current
    schema version as every read gives them (``as_stored``: as stored), their personal fields
    clear, or "[erased]" for a forgotten subject (an export never holds a key or a sealed
    envelope; import seals the fields again)."""
    events = Event.objects.order_by("global_position")
    if stream_id is not None:
        events = events.filter(stream_id=stream_id)
    upcasting = backend().upcasting()
    rows = events.values(*EXPORT_FIELDS).iterator(chunk_size=chunk_size)
    for chunk in _chunks(rows, chunk_size):
        opened = personal.open_all(
            [row["data"] for row in chunk], backend().personal_keys, in_place=True
        )
        for row, data in zip(chunk, opened, strict=True):
            version_and_data = (row["schema_version"], data)
            if not as_stored:
                version_and_data = upcasting(
                    row["stream_id"], row["version"], row["event_type"], *version_and_data
                )
            yield {
                **row,
                "schema_version": version_and_data[0],
                "data": version_and_data[1],
                "event_id": str(row["event_id"]),
                "recorded_at": row["recorded_at"].isoformat(),
            }


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def import_records(records: Sequence[Mapping[str, Any]]) -> int:
    """Write exported rows into the log, keeping their ids, positions, versions and payloads.

    Used only by ``eventstore_import`` on an empty store. Each call is one transaction; callers
    import in position order, so later batches get later transaction ids, keeping read order.
    Personal fields in clear (an export) are sealed with their subject's key, as an append
    does; a forgotten subject's are written "[erased]".
    """
    with transaction.atomic():
        return _import_records(records)


def _import_records(records: Sequence[Mapping[str, Any]]) -> int:
    store = backend()
    stream_subjects: dict[str, str] = {}
    keys: dict[str, bytes | None] = {}

    def data_of(r: Mapping[str, Any]) -> Any:
        data = r["data"]
        fields = personal.personal_fields(r["event_type"])
        if fields is None or not isinstance(data, dict):
            return data
        stream_id = r["stream_id"]
        subject = data.get(fields.subject_field) if fields.subject_field else None
        if subject is None:
            subject = stream_subjects.get(stream_id) or store.stream_subject(stream_id)
        if subject is None:
            return data
        subject = stream_subjects[stream_id] = str(subject)
        if not personal.has_personal_values(fields, data):
            return data
        if subject not in keys:
            keys[subject] = store.sealing_key(subject)
        key = keys[subject]
        if key is None:
            return personal.erased(data, fields)
        return personal.seal(data, fields, subject, key)

    rows = [
        Event(
            global_position=int(r["global_position"]),
            event_id=uuid.UUID(str(r["event_id"])),
            stream_id=r["stream_id"],
            stream_type=r["stream_type"],
            version=int(r["version"]),
            event_type=r["event_type"],
            schema_version=int(r["schema_version"]),
            data=data_of(r),
            metadata=r["metadata"],
            recorded_at=datetime.fromisoformat(r["recorded_at"]),
        )
        for r in records
    ]
    Event.objects.bulk_create(rows)
    return len(rows)


def reset_position_sequence() -> None:
    """After an import with explicit positions, make new appends continue after the highest one."""
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), [Event])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


# --- personal data (eventstore.personal) ---------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Forgetting:
    """A subject's forget: when, the position of the event recording it, and whether this
    call did it (False: it was forgotten before, and these are the first forget's)."""

    subject: str
    forgotten_at: datetime
    position: int | None
    first: bool


ForgetHook = Callable[[str], None]
_forget_hooks: list[ForgetHook] = []


def on_subject_forgotten(hook: ForgetHook) -> ForgetHook:
    """Register ``hook(subject)``, run inside each first forget's transaction: for a store of
    derived copies that may hold the subject's personal fields in clear (e.g. snapshots of
    their streams: delete them, or keep only sealed fields). A hook that raises fails the
    forget, and nothing is forgotten."""
    if hook not in _forget_hooks:
        _forget_hooks.append(hook)
    return hook


def forget_subject(
    subject: str, *, stream_id: str, stream_type: str, event: NewEvent, at: datetime | None = None
) -> Forgetting:
    """Forget ``subject``: delete their key, so that each of their personal fields in the log
    reads "[erased]" from now on everywhere, and append ``event`` (recording who and why; it
    must hold no personal data) to ``stream_id``, in one transaction. Forgetting a subject
    again changes nothing and answers the first forget. The log itself is never changed."""
    if personal.personal_fields(event.event_type) is not None:
        raise ValueError("The event recording a forget must hold no personal fields")
    when = at or timezone.now()
    with transaction.atomic():
        PersonalKey.objects.bulk_create(
            [PersonalKey(subject_id=subject, key=None, created_at=when, forgotten_at=when)],
            ignore_conflicts=True,
        )
        row = PersonalKey.objects.select_for_update().get(subject_id=subject)
        if row.forgotten_at is not None and row.forgotten_position is not None:
            return Forgetting(subject, row.forgotten_at, row.forgotten_position, first=False)
        result = append_to_stream(stream_id, stream_type, [event], expected_version=ANY)
        recorded = backend().checkpoint_at(result.last_position)
        row.key = None
        row.forgotten_at = when
        row.forgotten_position = result.last_position
        row.forgotten_tx = None if recorded is None else recorded.tx_id
        row.save(update_fields=["key", "forgotten_at", "forgotten_position", "forgotten_tx"])
        for hook in _forget_hooks:
            hook(subject)
    personal.append_keys.drop(subject)
    return Forgetting(subject, when, result.last_position, first=True)


def forgotten(subject: str) -> Forgetting | None:
    """``subject``'s forget, if they were forgotten."""
    row = PersonalKey.objects.filter(subject_id=subject, forgotten_at__isnull=False).first()
    if row is None or row.forgotten_at is None:
        return None
    return Forgetting(subject, row.forgotten_at, row.forgotten_position, first=False)


def open_personal_data(data: dict[str, Any]) -> dict[str, Any]:
    """A payload as stored (the ORM's ``Event.data``) with its personal fields opened: clear,
    or "[erased]" once the subject is forgotten. Every reader of stored payloads that does not
    go through read_stream or read_all (the back office's event pages) shows them through
    this."""
    return personal.open_all([data], backend().personal_keys)[0]


def _forgotten_records(stream_id: str | None) -> Iterable[dict[str, Any]]:
    rows = PersonalKey.objects.filter(forgotten_at__isnull=False).order_by("subject_id")
    if stream_id is not None:
        subject = backend().stream_subject(stream_id)
        rows = rows.filter(subject_id=subject or "")
    for row in rows:
        assert row.forgotten_at is not None
        yield {
            "subject_id": row.subject_id,
            "forgotten_at": row.forgotten_at.isoformat(),
            "forgotten_position": row.forgotten_position,
        }


def _restore_forgotten(records: Sequence[Mapping[str, Any]]) -> int:
    """The imported log's forgotten subjects forgotten here too (their keys, made by the
    import, deleted): their personal fields read "[erased]" as they did where exported."""
    with transaction.atomic():
        for r in records:
            subject = str(r["subject_id"])
            try:
                when = datetime.fromisoformat(str(r["forgotten_at"]))
            except ValueError as exc:
                raise ValueError(f"forgotten_at of {subject!r} is not a timestamp") from exc
            position = None if r.get("forgotten_position") is None else int(r["forgotten_position"])
            recorded = None if position is None else backend().checkpoint_at(position)
            forgotten = {
                "key": None,
                "forgotten_at": when,
                "forgotten_position": position,
                "forgotten_tx": None if recorded is None else recorded.tx_id,
            }
            PersonalKey.objects.update_or_create(
                subject_id=subject,
                defaults=forgotten,
                create_defaults={**forgotten, "created_at": when},
            )
            personal.append_keys.drop(subject)
    return len(records)


# Exported with the log (never a key): who was forgotten, so that an import forgets them too.
FORGOTTEN_SUBJECTS: Final = RecordKind(
    name="forgotten_subject",
    fields=("subject_id", "forgotten_at"),
    export=_forgotten_records,
    restore=_restore_forgotten,
)
