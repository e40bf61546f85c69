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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from django.db import connection, models

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


@dataclass(frozen=True)
class Lease:
    """A claim on a follower's cursor: who holds it and the fencing token of this claim."""

    owner: str
    fencing: int


class Turn(NamedTuple):
    lease: Lease | None  # None: not claimed (leased elsewhere, failed, backing off, or gone)
    found: bool  # False: the generation is gone (purged)
    active: bool  # whether the generation is the one queries read
    any_skips: bool  # whether operators recorded any skip for the follower


class Checkpoints(ABC):
    """Leases on a follower's cursor, its state, and the fenced compare-and-swap of its
    checkpoint (projections.engine.leases says what each guarantees)."""

    # Whether reading the next batch on a second connection while the current one is applied
    # pays (projections.engine.strategies.Pipelined).
    reads_ahead: bool
    # Whether writing a batch on a second connection while the next one is folded pays.
    writes_behind: bool

    @abstractmethod
    def claim(
        self, state: ProjectionState, owner: str, seconds: float, now: datetime | None
    ) -> Turn:
        """Lease ``state``'s cursor to ``owner`` for ``seconds`` unless another owner's lease
        runs or (given ``now``) it has failed or waits for a ``retry_at`` after ``now``; when
        leased, reload ``state``. Also whether the row exists and is active, and whether any
        skip is recorded. One statement where the backend can."""

    @abstractmethod
    def release(self, state: ProjectionState, lease: Lease) -> None:
        """End ``lease`` (if it is still the current one)."""

    @abstractmethod
    def reload(self, state: ProjectionState) -> bool:
        """Refresh ``state`` from its row; False if the generation is gone (purged)."""

    @abstractmethod
    def move_checkpoint(
        self,
        state: ProjectionState,
        lease: Lease,
        to: Checkpoint,
        *,
        applied: int,
        retry_at: datetime | None,
        now: datetime,
        seconds: float,
    ) -> bool:
        """In the caller's transaction: move ``state``'s checkpoint to ``to`` (clearing any
        failure, setting ``retry_at``, renewing the lease for ``seconds``) if ``lease`` is
        still the current one and the checkpoint still where ``state`` says; False if not."""

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


def adding_conflict(table: str, key: str, sums: Sequence[str], latest: Sequence[str]) -> str:
    """``ON CONFLICT`` adding ``sums`` onto the row with the same ``key`` and keeping the
    maximum of ``latest`` (PostgreSQL and SQLite share the syntax)."""
    sets = [f"{n} = {table}.{n} + excluded.{n}" for n in sums] + [
        f"{n} = CASE WHEN {table}.{n} IS NULL OR excluded.{n} > {table}.{n} "
        f"THEN excluded.{n} ELSE {table}.{n} END"
        for n in latest
    ]
    return f"ON CONFLICT (generation, {key}) DO UPDATE SET {', '.join(sets)}"


class EngineBackend(Checkpoints, GenerationTables, Rows, ABC):
    """Everything the engine asks of one database."""


_STATES: Final = ProjectionState._meta.db_table
STATE_FIELDS: Final = (
    "active",
    "status",
    "tx_id",
    "position",
    "events_applied",
    "attempts",
    "last_error",
    "error_position",
    "retry_at",
)
# Where a lease may be claimed: no other owner's lease runs; for a catch-up, also the cursor
# may run now (neither failed nor retired, and not waiting for its retry).
CLAIMABLE: Final = "(owner = '' OR owner = %s OR lease_until < {now})"
RUNNABLE: Final = (
    " AND status <> 'failed' AND status <> 'retired' AND (retry_at IS NULL OR retry_at <= %s)"
)
# The fenced compare-and-swap of a batch, in its transaction: it commits only under the
# lease it was read under (owner and fencing token) and from the checkpoint it started at.
# It renews the lease. A backend may add columns to RETURNING (PostgreSQL notifies there).
SWAP_CHECKPOINT: Final = (
    f"UPDATE {_STATES} SET tx_id = %s, position = %s, "  # noqa: S608
    "events_applied = events_applied + %s, attempts = 0, last_error = '', "
    "error_position = NULL, retry_at = %s, updated_at = %s, lease_until = {until} "
    "WHERE id = %s AND owner = %s AND fencing = %s AND tx_id = %s AND position = %s "
    "RETURNING id"
)
RELEASE: Final = (
    f"UPDATE {_STATES} SET owner = '', lease_until = NULL "  # noqa: S608
    "WHERE id = %s AND owner = %s AND fencing = %s"
)


def swap_parameters(
    state: ProjectionState,
    lease: Lease,
    to: Checkpoint,
    *,
    applied: int,
    retry_at: datetime | None,
    now: datetime,
    until: Any,
) -> list[Any]:
    """The parameters of SWAP_CHECKPOINT (``until``: the lease's new end, as {until} takes it)."""
    adapt = connection.ops.adapt_datetimefield_value
    return [
        to.tx_id,
        to.position,
        applied,
        adapt(retry_at),
        adapt(now),
        until,
        state.pk,
        lease.owner,
        lease.fencing,
        state.tx_id,
        state.position,
    ]
