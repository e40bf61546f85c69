"""What the projection engine asks of a database: one implementation per database.

The engine's own SQL lives behind these interfaces (the event store has backends of its
own): who owns a projection generation, reading and swapping its checkpoint, waiting for
batches, the tables a generation's rows live in, and set-based reads and writes of those
rows. PostgreSQL and SQLite each implement all of them (projections.engine.backends.postgres,
.sqlite); ``projections.engine.backends.backend()`` picks one once, and nothing else in the
engine asks which database it runs on.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from django.db import connection, models

from common.db import fetch
from eventstore.store import Checkpoint
from projections.engine.models import ProjectionSkip, ProjectionState

Row = dict[str, Any]

# Whether operators recorded any skip for a projection (asked at every catch-up turn).
ANY_SKIP: Final = f"SELECT 1 FROM {ProjectionSkip._meta.db_table} WHERE name = %s LIMIT 1"  # noqa: S608

# Read-your-writes polls with a growing interval where nothing tells it that a batch committed.
FIRST_POLL_SECONDS: Final = 0.005
LONGEST_POLL_SECONDS: Final = 0.1


def poll(condition: Callable[[], bool], deadline: float) -> bool:
    """Check ``condition`` at growing intervals until it holds (True) or ``deadline`` passes."""
    delay = FIRST_POLL_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(delay, remaining))
        if condition():
            return True
        delay = min(delay * 2, LONGEST_POLL_SECONDS)
    return False


class Turn(NamedTuple):
    found: bool  # False: the generation is gone (purged)
    any_skips: bool


class Checkpoints(ABC):
    """Ownership of a generation, its state, and the compare-and-swap of its checkpoint."""

    # Whether reading the next batch on a second connection while the current one is applied
    # pays (projections.engine.throughput.ReadAhead).
    reads_ahead: bool
    # Whether writing a batch on a second connection while the next one is folded pays
    # (projections.engine.throughput.WriteBehind).
    writes_behind: bool

    @abstractmethod
    def lock(self, name: str, generation: int, *, wait: bool) -> AbstractContextManager[bool]:
        """Own (projection, generation) while inside; yields False if another worker owns it."""

    def lock_holder(self) -> int:
        """Who holds the locks ``lock`` takes, as ``holds_lock`` checks it: this thread's
        connection (a backend with ``writes_behind`` says which)."""
        return 0

    def holds_lock(self, name: str, generation: int, holder: int) -> bool:
        """Whether ``holder`` still owns (projection, generation); asked on another
        connection, in the transaction of a batch written on the holder's behalf."""
        return True

    @abstractmethod
    def reload(self, state: ProjectionState) -> bool:
        """Refresh ``state`` from its row; False if the generation is gone (purged)."""

    @contextmanager
    def claim(self, state: ProjectionState) -> Iterator[Turn | None]:
        """A catch-up turn's start: ``lock`` ``state``'s generation without waiting (None if
        another worker owns it), then ``reload`` it and say whether operators recorded any
        skip for the projection; the lock is held while inside. One round trip where the
        backend can send the statements together."""
        with self.lock(state.name, state.generation, wait=False) as acquired:
            if not acquired:
                yield None
            else:
                yield Turn(self.reload(state), bool(fetch(ANY_SKIP, [state.name])))

    @abstractmethod
    def move_checkpoint(
        self, state: ProjectionState, to: Checkpoint, *, applied: int, now: datetime
    ) -> bool:
        """Move ``state``'s checkpoint to ``to`` (clearing any failure) if it is still where
        ``state`` says, in the caller's transaction; False if another worker moved it."""

    @abstractmethod
    def wait_for_batches(self, condition: Callable[[], bool], deadline: float) -> bool:
        """Wait until ``condition`` holds, re-checking as projection batches commit; False if
        ``deadline`` (time.monotonic) passes first."""


class GenerationTables(ABC):
    """Where each generation's rows of a read-model table live."""

    @abstractmethod
    def physical_table(self, model: type[models.Model], generation: int) -> str:
        """The table holding ``generation``'s rows of ``model``."""

    @abstractmethod
    def create(
        self, tables: Sequence[type[models.Model]], generation: int, *, attach: bool
    ) -> None:
        """Empty tables for a new ``generation`` (whatever was left under its number is gone),
        visible to queries at once (``attach``) or only once attached."""

    @abstractmethod
    def attach(
        self,
        tables: Sequence[type[models.Model]],
        generation: int,
        meanwhile: Callable[[], None] = lambda: None,
    ) -> None:
        """Make ``generation``'s rows visible to queries (builds their indexes if need be);
        ``meanwhile`` runs on this connection before they are, while the indexes are built."""

    @abstractmethod
    def drop(self, tables: Sequence[type[models.Model]], generation: int) -> None:
        """Remove every row of ``generation``."""


@dataclass(frozen=True)
class Terms:
    """Counts by word to move with an ``add``: each row (``text``, ``key``, ``delta``) adds its
    signed ``delta`` to the ``count`` column of ``model``'s row (generation, term, ``key``) of
    every distinct word (PostgreSQL's lexeme, 'simple' configuration) of its ``text``.

    Only where the database has full text search (PostgreSQL); elsewhere nothing is written.
    A generation being rebuilt may leave them out until ``recount_terms`` (PostgreSQL: while
    its tables are detached).
    """

    model: type[models.Model]
    rows: Sequence[Row]
    key: str
    count: str
    # The shard part of the counts to move (a ``shard`` column in the key), or None.
    shard: int | None = None


class Rows(ABC):
    """Set-based reads and writes of read-model rows (the contract: projections.engine.tables)."""

    @abstractmethod
    def load(
        self,
        model: type[models.Model],
        generation: int,
        *,
        key: str,
        keys: list[Any],
        columns: Sequence[str],
        order_by: Sequence[str],
    ) -> list[Row]: ...

    @abstractmethod
    def delete(
        self, model: type[models.Model], generation: int, *, key: str, keys: list[Any]
    ) -> None: ...

    @abstractmethod
    def upsert(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        unique: Sequence[str],
        update: Sequence[str] | None,
    ) -> None: ...

    @abstractmethod
    def add(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        key: str,
        sums: Sequence[str],
        latest: Sequence[str],
        terms: Terms | None = None,
        shard: int | None = None,
    ) -> None:
        """Add ``rows`` (see projections.engine.tables.add) and, in the same statement, the
        word counts ``terms``."""

    @abstractmethod
    def takes_terms(self, model: type[models.Model], generation: int) -> bool:
        """Whether ``add`` counts Terms into ``model``'s rows of ``generation`` now (it may
        answer True where ``add`` then finds it does not: never the other way)."""

    @abstractmethod
    def recount_terms(
        self,
        model: type[models.Model],
        generation: int,
        *,
        source: type[models.Model],
        text: str,
        key: str,
        count: str,
    ) -> None:
        """Replace ``generation``'s word counts in ``model`` (see Terms) by those of the rows
        of ``source``: the number of them with each word in their ``text`` and each ``key``."""


def adding_conflict(
    table: str, key: str, sums: Sequence[str], latest: Sequence[str], *, shard: bool = False
) -> str:
    """``ON CONFLICT`` adding ``sums`` onto the row with the same ``key`` (and ``shard``
    column) and keeping the maximum of ``latest`` (PostgreSQL and SQLite share the syntax)."""
    sets = [f"{n} = {table}.{n} + excluded.{n}" for n in sums] + [
        f"{n} = CASE WHEN {table}.{n} IS NULL OR excluded.{n} > {table}.{n} "
        f"THEN excluded.{n} ELSE {table}.{n} END"
        for n in latest
    ]
    target = f"generation, {key}, shard" if shard else f"generation, {key}"
    return f"ON CONFLICT ({target}) DO UPDATE SET {', '.join(sets)}"


class EngineBackend(Checkpoints, GenerationTables, Rows, ABC):
    """Everything the engine asks of one database."""


# The checkpoint's compare-and-swap; a backend may add columns to RETURNING (PostgreSQL
# notifies waiting readers there).
SWAP_CHECKPOINT: Final = (
    f"UPDATE {ProjectionState._meta.db_table} SET tx_id = %s, position = %s, "  # noqa: S608
    "events_applied = events_applied + %s, attempts = 0, last_error = '', "
    "error_position = NULL, retry_at = NULL, updated_at = %s "
    "WHERE id = %s AND tx_id = %s AND position = %s RETURNING id"
)


def swap_parameters(
    state: ProjectionState, to: Checkpoint, applied: int, now: datetime
) -> list[Any]:
    """The parameters of SWAP_CHECKPOINT."""
    return [
        to.tx_id,
        to.position,
        applied,
        connection.ops.adapt_datetimefield_value(now),
        state.pk,
        state.tx_id,
        state.position,
    ]
