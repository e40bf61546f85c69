"""Catch-up speed: larger batches when far behind, the next batch read while this one is
applied, a batch written while the next is folded, and no full garbage collections in
between. None of it changes what is applied.

Why each pays, with figures: docs/decisions.md ("Catch-up mechanics").
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

from django.conf import settings
from django.db import connection, transaction

from common.metrics import PROJECTION_BATCH_SECONDS
from eventstore.store import Checkpoint, RecordedEvent, read_all
from projections.engine import base
from projections.engine.backends import backend
from projections.engine.checkpoints import advance, check_owner, lock_holder, reload
from projections.engine.models import ProjectionSkip, ProjectionState

# While draining, a young collection runs before every this many batches.
BATCHES_PER_COLLECTION: Final = 10


class BatchSizes:
    """How many events to read next: PROJECTION_BATCH_SIZE while caught up; after a full
    batch (far behind) PROJECTION_CATCHUP_BATCH_SIZE, so an order touched several times is
    written once; back to the normal size to isolate a failure of a large batch."""

    def __init__(self) -> None:
        self.normal: int = settings.PROJECTION_BATCH_SIZE
        self.current: int = self.normal

    def full(self, read: int) -> bool:
        """Whether a batch of ``read`` events was full (more are likely waiting)."""
        return read == self.current

    def grow(self) -> None:
        self.current = max(self.normal, settings.PROJECTION_CATCHUP_BATCH_SIZE)

    def shrink_after_failure(self, read: int) -> bool:
        """After a batch of ``read`` events failed: True if it is worth reading again at the
        normal size (a smaller batch commits the events before the failing one)."""
        if read <= self.normal:
            return False
        self.current = self.normal
        return True


class ReadAhead:
    """The log, read one batch ahead on a second connection while the current batch is
    applied, so reading and applying use both cores (where the backend says it pays).

    Only batches asked for in advance (``read_ahead``) are read on the second connection,
    which is opened at the first of them: a projector that is caught up never opens it.
    Reading ahead is safe because a log read depends only on where it starts, never on the
    projection's checkpoint; a batch read ahead that is not asked for is dropped.
    """

    def __init__(self, metadata: bool) -> None:
        self.metadata = metadata
        self.pool: ThreadPoolExecutor | None = None
        self.pending: tuple[Checkpoint, int, Future[list[RecordedEvent]]] | None = None

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._drop_pending()
        if self.pool is not None:
            self.pool.submit(_close_this_threads_connection).result()
            self.pool.shutdown()

    def read(self, after: Checkpoint, limit: int) -> list[RecordedEvent]:
        if self.pending is not None and self.pending[:2] == (after, limit):
            future = self.pending[2]
            self.pending = None
            return future.result()
        self._drop_pending()
        return read_all(after, limit=limit, metadata=self.metadata)

    def read_ahead(self, after: Checkpoint, limit: int) -> None:
        # Inside a caller's transaction the log may hold events of its own, unseen elsewhere.
        if not backend().reads_ahead or connection.in_atomic_block:
            return
        self._drop_pending()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        future = self.pool.submit(read_all, after, limit=limit, metadata=self.metadata)
        self.pending = (after, limit, future)

    def _drop_pending(self) -> None:
        if self.pending is not None:
            self.pending[2].exception()  # wait for it; whatever it found is not wanted
            self.pending = None


@dataclass
class Outcome:
    """What became of the batches handed to WriteBehind so far: those committed (in order),
    then at most one that failed (nothing after it was committed), with its error."""

    committed: list[Sequence[RecordedEvent]] = field(default_factory=list)
    failed: Sequence[RecordedEvent] = ()
    error: Exception | None = None


class _WriteFailed(Exception):
    """The batch being written failed: the one being folded is not wanted."""


class WriteBehind:
    """A projection's batches folded on this thread and written on a second connection (a
    thread of its own) while the next batch is folded, where the backend and the projection
    allow it (``enabled``); both cores work, as with ReadAhead.

    Exactly-once holds as without it: each batch's rows and its checkpoint's compare-and-swap
    commit in one transaction, and that transaction also checks that this thread's connection
    still holds the generation's lock. Batch N+1 is handed to the writer only once batch N
    has committed, so nothing after a failed batch commits; a failure makes the projection
    forget what it folded ahead (``abandon``) and reloads the state, and the runner handles
    the failed batch as it handles one applied in place. The writer's connection is opened
    at the first batch written behind and closed at the end: the runner writes behind only
    while catching up, so a projector that is caught up never opens it.
    """

    def __init__(self, projection: base.Projection, state: ProjectionState) -> None:
        self.projection = projection
        self.state = state
        # Inside a caller's transaction, only that transaction's connection sees its writes.
        self.enabled = (
            projection.folds_ahead and backend().writes_behind and not connection.in_atomic_block
        )
        self.pool: ThreadPoolExecutor | None = None
        self.holder = 0
        self.pending: tuple[Sequence[RecordedEvent], Future[None]] | None = None
        self.folded: tuple[Sequence[RecordedEvent], Callable[[], None], Checkpoint, int] | None
        self.folded = None
        self.outcome = Outcome()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()  # a batch in flight ends (commits or not) before the lock is released
        if self.folded is not None:  # folded, never written (the runner stopped)
            self.folded = None
            self.projection.abandon(self.state.generation)
        if self.pool is not None:
            self.pool.submit(_close_this_threads_connection).result()
            self.pool.shutdown()

    def fold(
        self,
        events: Sequence[RecordedEvent],
        after: Checkpoint,
        skips: Mapping[int, ProjectionSkip],
    ) -> Outcome:
        """Fold ``events`` (the batch from ``after``) while the batch before is written; then
        wait for it and say what became of it. Only when ``enabled``. Unless that failed,
        ``write`` hands the folded batch to the writer: the runner first reports the
        committed one (a progress callback that raises stops everything after it)."""
        handles = self.projection.handles
        relevant = [e for e in events if e.event_type in handles and e.global_position not in skips]
        to = events[-1].checkpoint
        try:
            writes = self.projection.fold(
                relevant, self.state.generation, after, to, settle=self._settle
            )
        except _WriteFailed:
            return self._take()
        except Exception as exc:
            self._join()
            if self.outcome.error is None:
                self.outcome.failed, self.outcome.error = events, exc
            return self._take()
        self._join()
        if self.outcome.error is None:
            self.folded = (events, writes, to, len(relevant))
        return self._take()

    @property
    def busy(self) -> bool:
        """Whether a batch is being written."""
        return self.pending is not None

    def write(self) -> None:
        """Hand the batch ``fold`` folded to the writer."""
        if self.folded is None:
            return
        events, writes, to, applied = self.folded
        self.folded = None
        if self.pool is None:
            self.holder = lock_holder()
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-behind")
        self.pending = (events, self.pool.submit(self._write, writes, to, applied))

    def flush(self) -> Outcome:
        """Wait for the batch being written; what became of it."""
        self._join()
        return self._take()

    def _write(self, writes: Callable[[], None], to: Checkpoint, applied: int) -> None:
        """On the writer's thread (its own connection): the batch's one transaction."""
        started = time.perf_counter()
        with transaction.atomic():
            check_owner(self.state, self.holder)
            writes()
            advance(self.state, to, applied=applied)
        PROJECTION_BATCH_SECONDS.labels(self.projection.name).observe(time.perf_counter() - started)

    def _settle(self) -> None:
        """The projection is about to read its rows: the batch being written must be in."""
        self._join()
        if self.outcome.error is not None:
            raise _WriteFailed

    def _join(self) -> None:
        if self.pending is None:
            return
        events, future = self.pending
        self.pending = None
        error = future.exception()
        if error is None:
            self.outcome.committed.append(events)
        elif isinstance(error, Exception):
            self.outcome.failed, self.outcome.error = events, error
        else:
            raise error  # KeyboardInterrupt and the like

    def _take(self) -> Outcome:
        outcome, self.outcome = self.outcome, Outcome()
        if outcome.error is not None:
            # What was folded ahead holds the failed batch's changes; the state may hold a
            # checkpoint moved in a transaction that did not commit.
            self.projection.abandon(self.state.generation)
            reload(self.state)
        return outcome


def _close_this_threads_connection() -> None:
    connection.close()  # Django's connections are per thread


@contextmanager
def young_collections_only() -> Iterator[Callable[[], None]]:
    """While batches are applied, the cyclic garbage collector looks only at young objects,
    and only when called (the function yielded).

    A batch allocates tens of thousands of objects: left alone, the collector would run many
    times per batch and, now and then, walk everything the process holds (a projector's
    cached states included). Reference counting frees a batch's objects as usual (the order
    projections' batches leave no cycles at all); full collections resume afterwards.
    """
    if not gc.isenabled():
        yield lambda: None
        return
    gc.disable()
    try:
        yield _collect_young
    finally:
        gc.enable()


def _collect_young() -> None:
    gc.collect(1)
