"""Exactly once: who may apply a follower's cursor (a lease), and the fenced compare-and-swap
of its checkpoint.

A worker claims a cursor with one ``UPDATE ... WHERE no other lease runs RETURNING fencing``:
the claim increments the fencing token. Each batch is applied and its checkpoint moved in ONE
transaction whose swap checks the owner, the fencing token and the old checkpoint, and renews
the lease (settings.PROJECTION_LEASE_SECONDS). A batch whose check fails rolls back: a worker
paused past its lease, whose cursor another has claimed since, can never commit. A worker
that dies leaves its lease to run out; one that ends its turn releases it. Nothing here is
session state: it works through PgBouncer in transaction mode.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from eventstore.store import Checkpoint
from projections.engine.backends import backend
from projections.engine.backends.base import Lease, Turn
from projections.engine.models import ProjectionState

__all__ = ["Lease", "LeaseLost", "Turn", "advance", "claim", "holding", "release", "reload"]

# How often a worker that must have a cursor (an operator's skip, a rebuild's switch) asks.
_WAIT_POLL_SECONDS = 0.05


class LeaseLost(Exception):
    """The batch's lease is no longer the cursor's current one (it ran out and another worker
    claimed it), or its checkpoint moved: the batch was rolled back."""


def owner_name() -> str:
    """Who this thread is, as the leases name it (the status shows it): host, process, thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"


def claim(state: ProjectionState, *, owner: str | None = None, any_status: bool = False) -> Turn:
    """Lease ``state``'s cursor to this thread (or ``owner``) unless another lease runs or
    (unless ``any_status``: an operator or a rebuild) it has failed or waits for its
    ``retry_at``; reloads ``state`` when leased (one round trip)."""
    now = None if any_status else timezone.now()
    return backend().claim(state, owner or owner_name(), settings.PROJECTION_LEASE_SECONDS, now)


def release(state: ProjectionState, lease: Lease) -> None:
    backend().release(state, lease)


@contextmanager
def holding(
    state: ProjectionState, *, wait: float = 0.0, any_status: bool = False
) -> Iterator[Turn]:
    """Hold ``state``'s lease while inside, asking again for up to ``wait`` seconds while
    another worker holds it; the Turn's lease is None if it was not had (or the cursor is
    gone, or has failed or backs off, unless ``any_status``)."""
    deadline = time.monotonic() + wait
    while True:
        turn = claim(state, any_status=any_status)
        if turn.lease is not None or not turn.found or time.monotonic() >= deadline:
            break
        time.sleep(_WAIT_POLL_SECONDS)
    try:
        yield turn
    finally:
        if turn.lease is not None:
            release(state, turn.lease)


def reload(state: ProjectionState) -> bool:
    """Refresh ``state``; False if its generation is gone (purged after a rebuild)."""
    return backend().reload(state)


def advance(
    state: ProjectionState,
    lease: Lease,
    to: Checkpoint,
    *,
    applied: int,
    retry_at: datetime | None = None,
) -> None:
    """Move the checkpoint to ``to`` in the caller's transaction, clearing any failure and
    renewing the lease; raises LeaseLost (the caller rolls back) unless ``lease`` is still the
    current one and the checkpoint where ``state`` says."""
    if not backend().move_checkpoint(
        state,
        lease,
        to,
        applied=applied,
        retry_at=retry_at,
        now=timezone.now(),
        seconds=settings.PROJECTION_LEASE_SECONDS,
    ):
        raise LeaseLost(
            f"{state.name} generation {state.generation} shard {state.shard}: the lease "
            f"{lease.fencing} of {lease.owner} is gone or the checkpoint moved"
        )
    state.tx_id, state.position = to.tx_id, to.position
    state.events_applied += applied
    state.attempts, state.last_error, state.error_position = 0, "", None
    state.retry_at = retry_at
