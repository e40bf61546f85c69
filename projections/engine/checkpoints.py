"""Exactly once: who owns a projection generation, and the compare-and-swap of its checkpoint.

Each batch is applied and its checkpoint moved in ONE transaction, with a compare-and-swap on
the checkpoint, so a crash anywhere means neither loss nor double application, and two workers
can never both apply the same events. Where the database has them (PostgreSQL), a worker also
holds an advisory lock per (projection, generation), so a second worker returns at once
instead of racing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from django.utils import timezone

from eventstore.store import Checkpoint
from projections.engine.backends import backend
from projections.engine.backends.base import Turn
from projections.engine.models import ProjectionState


class CheckpointMoved(Exception):
    """Another worker advanced the checkpoint first; this batch was rolled back."""


class LockLost(Exception):
    """A batch written on the lock holder's behalf found that it no longer owns the
    generation; the batch was rolled back."""


@contextmanager
def projection_lock(name: str, generation: int, *, wait: bool = False) -> Iterator[bool]:
    """Own (projection, generation) while inside; yields False if another worker owns it."""
    with backend().lock(name, generation, wait=wait) as acquired:
        yield acquired


def lock_holder() -> int:
    """This thread's connection, which takes the locks, as ``check_owner`` knows it."""
    return backend().lock_holder()


def check_owner(state: ProjectionState, holder: int) -> None:
    """Raise LockLost unless ``holder`` (another connection) still owns ``state``'s generation:
    a batch written on its behalf, in the batch's transaction, commits only under its lock.
    (The compare-and-swap keeps batches exactly-once even without it.)"""
    if not backend().holds_lock(state.name, state.generation, holder):
        raise LockLost(f"{state.name} generation {state.generation} is no longer ours")


def reload(state: ProjectionState) -> bool:
    """Refresh ``state``; False if its generation is gone (purged after a rebuild)."""
    return backend().reload(state)


def claim(state: ProjectionState) -> AbstractContextManager[Turn | None]:
    """Own ``state``'s generation for a catch-up turn while inside (None: another worker owns
    it), with the state reloaded and whether any skip is recorded (one round trip)."""
    return backend().claim(state)


def advance(state: ProjectionState, to: Checkpoint, *, applied: int) -> None:
    """Move the checkpoint to ``to`` in the caller's transaction, clearing any failure;
    raises CheckpointMoved (the caller rolls back) if another worker moved it first."""
    if not backend().move_checkpoint(state, to, applied=applied, now=timezone.now()):
        raise CheckpointMoved(f"{state.name} moved past {state.position} concurrently")
    state.tx_id, state.position = to.tx_id, to.position
    state.events_applied += applied
    state.attempts, state.last_error, state.error_position, state.retry_at = 0, "", None, None
