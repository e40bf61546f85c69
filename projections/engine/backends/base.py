"""What the follower engine asks of a database: one implementation per database.

The engine's own SQL lives behind this interface (the event store has backends of its own,
the read-model toolkit too, for tables): leasing a follower's cursor, reading and swapping its
checkpoint under the lease, waiting for batches. PostgreSQL and SQLite each implement it
(projections.engine.backends.postgres, .sqlite); ``projections.engine.backends.backend()``
picks one once, and nothing else in the engine asks which database it runs on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from django.db import connection

from eventstore.store import Checkpoint
from projections.engine.models import ProjectionSkip, ProjectionState

# Whether operators recorded any skip for a projection (asked at every catch-up turn).
ANY_SKIP: Final = f"SELECT 1 FROM {ProjectionSkip._meta.db_table} WHERE name = %s LIMIT 1"  # noqa: S608


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
    # Whether a follower may run as several shards (the event store splits the log).
    runs_shards: bool = False

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


class EngineBackend(Checkpoints, ABC):
    """Everything the engine asks of one database."""


_STATES: Final = ProjectionState._meta.db_table
STATE_FIELDS: Final = (
    "shards",  # the generation's shard count: how its cursors read the log
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
