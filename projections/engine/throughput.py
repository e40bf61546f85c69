"""Catch-up speed: larger batches when far behind, the next batch read while this one is
applied, and no full garbage collections in between. None of it changes what is applied.

Why each pays, with figures: docs/decisions.md ("Catch-up mechanics").
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Final

from django.conf import settings
from django.db import connection

from eventstore.store import Checkpoint, RecordedEvent, read_all
from projections.engine.backends import backend

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
