"""The event store's value types: events to append, events as recorded, places in the log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

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


@dataclass(frozen=True, slots=True)
class Rider:
    """A row the caller writes with an append, in the append's own statement where the backend
    can (PostgreSQL: one round trip instead of two; elsewhere nothing is written and the
    caller writes it itself).

    ``sql`` is an INSERT whose rows are selected from ``appended(global_position, version)``,
    the events just appended; ``params`` fill its placeholders. No row appended, no row
    written; a rider that fails fails the append.
    """

    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: str
    version: int
    positions: tuple[int, ...]
    rider_wrote: bool = False  # the rider was written by the append's statement

    @property
    def last_position(self) -> int:
        return self.positions[-1]


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a follower at some checkpoint has not read yet."""

    events: int
    oldest_recorded_at: datetime | None
