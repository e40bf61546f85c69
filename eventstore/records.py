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
    # The data subject whose personal fields the event holds (eventstore.personal), when its
    # payload does not name them; else the stream's.
    subject: str | None = None


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


# Events are spread over BUCKETS buckets by a stable hash of their stream id
# (eventstore.backends.postgres: hashtextextended(stream_id, 0) & 15, kept in an index); a shard
# count is a power of two up to BUCKETS, so shard ``index`` of ``count`` reads the buckets whose
# number is ``index`` modulo ``count``, and halving or doubling the count nests the shards.
BUCKETS: Final = 16


@dataclass(frozen=True, slots=True)
class Shard:
    """One of ``count`` disjoint parts of the log: every event of a stream is in the same one.

    Read through ``read_all(..., shard=...)``: each part in the same gap-safe order as the
    whole log, its own checkpoints comparable with the log's.

    ``forgets``: the part also holds every forget record of the log (the event
    ``store.forget_subject`` appends), wherever its stream's bucket is, in the same order: a
    follower that scrubs a forgotten subject's data from its shard's rows and cached state needs
    each of its shards to apply the forget, at its place in the log.
    """

    index: int = 0
    count: int = 1
    forgets: bool = False

    def __post_init__(self) -> None:
        if not valid_shard_count(self.count):
            raise ValueError(
                f"a shard count is a power of two from 1 to {BUCKETS}, not {self.count!r}"
            )
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index!r} is not in 0..{self.count - 1}")

    @property
    def whole(self) -> bool:
        """Whether this shard is the whole log (count 1)."""
        return self.count == 1

    @property
    def buckets(self) -> tuple[int, ...]:
        """The buckets this shard reads."""
        return tuple(b for b in range(BUCKETS) if b % self.count == self.index)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def valid_shard_count(count: object) -> bool:
    """Whether ``count`` can be a number of shards: a power of two from 1 to BUCKETS."""
    return (
        isinstance(count, int)
        and not isinstance(count, bool)
        and 1 <= count <= BUCKETS
        and count & (count - 1) == 0
    )


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
