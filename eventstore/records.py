"""The event store's value types: events to append, events as recorded, places in the log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from django.db.models import Model

ANY: Final = "any"
NO_STREAM: Final = "no_stream"
ExpectedVersion = int | Literal["any", "no_stream"]


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

    tx_id is a transaction id on PostgreSQL (the writer's, or a newer one that wrote the
    stream's previous event: eventstore.backends.postgres) and always 0 on SQLite. Only the
    pair is a cursor: positions are taken at insert and become visible at commit, so a
    follower paging by position alone skips the events of slower transactions.
    """

    tx_id: int = 0
    position: int = 0


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A keyed command's record, written with its events: the caller's ``key`` (scoped by
    ``actor``), the fingerprint of its request, and its answer, which the store completes with
    the appended stream's last ``version`` and ``position``.

    ``table`` is the caller's model of such records (its fields: actor, key, request_hash,
    response, created_at; one row per actor and key). Where the backend can (PostgreSQL) the
    append's own statement writes the row: one round trip instead of two, and a key already
    taken fails the whole statement (an IntegrityError naming the table's unique constraint),
    so nothing is appended. Elsewhere the append writes nothing (AppendResult.record_written
    is False) and the caller records it after the events, in the same transaction.
    """

    table: type[Model]
    actor: str
    key: str
    request_hash: str
    answer: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: str
    version: int
    positions: tuple[int, ...]
    record_written: bool = False  # the command's record was written by the append's statement
    recorded_at: datetime | None = None  # the appended events' recorded_at

    @property
    def last_position(self) -> int:
        return self.positions[-1]


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a follower at some checkpoint has not read yet."""

    events: int
    oldest_recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the log read by type (``read_all_matching``): the events that match, and the
    checkpoint after them and after every event the filters left out on the way."""

    events: list[RecordedEvent]
    checkpoint: Checkpoint
