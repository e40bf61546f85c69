"""How a follower's batches are read and applied: ONE apply path, run in place or pipelined.

A batch is applied in two steps: ``prepare`` hands its events to the follower's ``handle``,
``finish`` runs what ``handle`` deferred and moves the checkpoint (the fenced swap of
projections.engine.leases) past what it consumed. In place (``InPlace``, the default) both
run in one transaction on this thread. ``Pipelined`` (chosen per follower, ``strategy``)
overlaps the work of two batches while catching up, on both cores: the next batch is read on
a second connection while this one is applied (read-ahead), and a batch's ``finish`` runs in
its transaction on a third while the next batch is prepared on this thread (write-behind).
Exactly-once holds either way: each batch's writes and its swap commit in one transaction,
and batch N+1 is handed to the writer only once batch N has committed.

Why each pays, with figures: docs/decisions.md ("Catch-up mechanics").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import connection, transaction

from common.metrics import PROJECTION_BATCH_SECONDS
from eventstore.store import Checkpoint, RecordedEvent, read_all
from projections.engine.backends import backend
from projections.engine.followers import Batch, Follower, log_part
from projections.engine.leases import Lease, advance, reload
from projections.engine.models import ProjectionSkip, ProjectionState

Skips = Mapping[int, ProjectionSkip]


# --- reading: the log, or one shard's part of it ------------------------------------------
def read_events(
    follower: Follower, state: ProjectionState, after: Checkpoint, limit: int
) -> list[RecordedEvent]:
    """The next events of ``state``'s shard of the log after ``after``, in checkpoint order
    (the generation's shard count is the one it was made with: ``state.shards``)."""
    if state.shards <= 1:
        return read_all(after, limit=limit, metadata=follower.reads_metadata)
    shard = log_part(follower, state.shard, state.shards)
    return read_all(after, limit=limit, metadata=follower.reads_metadata, shard=shard)


# --- which batches continue the last ones this thread handed a follower -----------------
class _Continuity(threading.local):
    """Per thread, per cursor: where the last batch handed out ends, while nothing of it (nor
    of those before) is known lost. A batch that starts there ``continues``."""

    def __init__(self) -> None:
        self.ends: dict[tuple[str, int, int], Checkpoint] = {}

    def take(self, state: ProjectionState, after: Checkpoint) -> bool:
        return self.ends.pop(_key(state), None) == after

    def handed(self, state: ProjectionState, to: Checkpoint) -> None:
        self.ends[_key(state)] = to

    def forget(self, state: ProjectionState) -> None:
        self.ends.pop(_key(state), None)


def _key(state: ProjectionState) -> tuple[str, int, int]:
    return (state.name, state.generation, state.shard)


continuity = _Continuity()


# --- the one apply path ---------------------------------------------------------------------
@dataclass(eq=False)
class Prepared:
    """A batch ``handle`` has seen: where its checkpoint moves, and what its commit reads."""

    batch: Batch
    events: Sequence[RecordedEvent]  # the batch as read from the log
    read: Sequence[RecordedEvent]  # those the checkpoint moves past
    consumed: int  # how many of the follower's events it consumed
    partial: bool  # fewer than all: the checkpoint stops before the first one not consumed

    @property
    def stops(self) -> bool:
        """The follower asked to stop here (a part consumed, or a time to wait for)."""
        return self.partial or self.batch.retry_at is not None


def prepare(
    follower: Follower,
    state: ProjectionState,
    events: Sequence[RecordedEvent],
    after: Checkpoint,
    skips: Skips,
    *,
    continues: bool,
    behind: Callable[[], None] | None = None,
) -> Prepared:
    """Hand ``events`` (the batch from ``after``) but the ``skips`` to the follower. With
    ``behind`` (write-behind: it waits for the batches being written) its writes are deferred."""
    relevant = _relevant(follower, events, skips)
    batch = Batch(
        name=state.name,
        generation=state.generation,
        shard=state.shard,
        after=after,
        to=events[-1].checkpoint,
        continues=continues,
        shards=state.shards,
    )
    if behind is not None:
        batch.deferred, batch.settle = [], behind
    consumed = len(relevant)
    if relevant:
        answer = follower.handle(relevant, batch)
        if answer is not None:
            consumed = max(0, min(answer, len(relevant)))
    if consumed == len(relevant):
        return Prepared(batch, events, events, consumed, partial=False)
    # Up to (not including) the first event not consumed.
    stop = events.index(relevant[consumed])
    batch.to = events[stop - 1].checkpoint if stop else after
    return Prepared(batch, events, events[:stop], consumed, partial=True)


def _relevant(
    follower: Follower, events: Sequence[RecordedEvent], skips: Skips
) -> list[RecordedEvent]:
    """The events of ``follower``'s types and stream types that no operator skipped (inline
    tests: a method call per event costs 0.3 us, a percent of a projection's time)."""
    handles, streams = follower.handles, follower.stream_types
    if streams is None and not skips:
        if handles is None:
            return list(events)
        return [e for e in events if e.event_type in handles]
    return [
        e
        for e in events
        if (handles is None or e.event_type in handles)
        and (streams is None or e.stream_type in streams)
        and e.global_position not in skips
    ]


def finish(prepared: Prepared, state: ProjectionState, lease: Lease) -> None:
    """In the batch's transaction: what ``handle`` deferred, then the fenced swap."""
    for statements in prepared.batch.deferred or ():
        statements()
    batch = prepared.batch
    advance(state, lease, batch.to, applied=prepared.consumed, retry_at=batch.retry_at)


def apply_in_place(
    follower: Follower,
    state: ProjectionState,
    lease: Lease,
    events: Sequence[RecordedEvent],
    skips: Skips,
) -> Prepared:
    """Apply the batch ``events`` (from ``state``'s checkpoint) in one transaction on this
    thread; LeaseLost (rolled back) if the lease is gone or the checkpoint moved."""
    after = state.checkpoint
    continues = continuity.take(state, after)
    started = time.perf_counter()
    with transaction.atomic():
        prepared = prepare(follower, state, events, after, skips, continues=continues)
        finish(prepared, state, lease)
        if not prepared.partial:
            transaction.on_commit(lambda: continuity.handed(state, prepared.batch.to))
    PROJECTION_BATCH_SECONDS.labels(state.name).observe(time.perf_counter() - started)
    return prepared


@dataclass
class Outcome:
    """What became of the batches submitted so far: those committed (in order), then at most
    one that failed (nothing after it was committed), with its error; and whether the last
    submitted batch asks to stop there."""

    committed: list[Sequence[RecordedEvent]] = field(default_factory=list)
    failed: Sequence[RecordedEvent] = ()
    error: Exception | None = None
    stops: bool = False


# --- strategies ------------------------------------------------------------------------------
class Strategy:
    """In place: each batch read when asked for and applied in its own transaction."""

    def __init__(self, follower: Follower, state: ProjectionState, lease: Lease) -> None:
        self.follower, self.state, self.lease = follower, state, lease

    def __enter__(self) -> Strategy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def read(self, after: Checkpoint, limit: int) -> list[RecordedEvent]:
        return read_events(self.follower, self.state, after, limit)

    def read_ahead(self, after: Checkpoint, limit: int) -> None:
        """The batch after this one will be read from ``after`` (a hint)."""

    def submit(
        self, events: Sequence[RecordedEvent], after: Checkpoint, skips: Skips, *, ahead: bool
    ) -> Outcome:
        """Apply the batch ``events`` (from ``after``); ``ahead``: more batches follow at once."""
        return self.in_place(events, skips)

    def in_place(self, events: Sequence[RecordedEvent], skips: Skips) -> Outcome:
        try:
            prepared = apply_in_place(self.follower, self.state, self.lease, events, skips)
        except Exception as exc:
            return Outcome(failed=events, error=exc)
        return Outcome(committed=[prepared.read], stops=prepared.stops)

    def write(self) -> None:
        """Start writing the batch ``submit`` prepared (write-behind)."""

    def flush(self) -> Outcome:
        """Wait for the batch being written; what became of it."""
        return Outcome()


InPlace = Strategy


class _WriteFailed(Exception):
    """The batch being written failed: the one being prepared is not wanted."""


class Pipelined(Strategy):
    """Read-ahead and write-behind, where the backend says they pay; a follower that chooses
    it writes only through ``Batch.write`` and reads its rows only after ``Batch.settle()``
    (its ``handle`` may run before its batch's transaction, while the batch before commits).

    Only batches asked for in advance are read on the second connection, and only while
    catching up is a batch written behind: a follower that is caught up opens neither. A log
    read depends only on where it starts, never on the checkpoint: a batch read ahead that is
    not asked for is dropped.
    """

    def __init__(self, follower: Follower, state: ProjectionState, lease: Lease) -> None:
        super().__init__(follower, state, lease)
        # Inside a caller's transaction only its connection sees its writes (and the log may
        # hold events of its own, unseen elsewhere).
        outside = not connection.in_atomic_block
        self.reads_ahead = outside and backend().reads_ahead
        self.writes_behind = outside and backend().writes_behind
        self.reader: ThreadPoolExecutor | None = None
        self.pending_read: tuple[Checkpoint, int, Future[list[RecordedEvent]]] | None = None
        self.writer: ThreadPoolExecutor | None = None
        self.pending: tuple[Prepared, Future[None]] | None = None
        self.folded: Prepared | None = None
        self.outcome = Outcome()

    def __exit__(self, *exc_info: object) -> None:
        self.flush()  # a batch in flight ends (commits or not) before the lease is released
        if self.folded is not None:  # prepared, never written (the runner stopped)
            self.folded = None
            continuity.forget(self.state)
        self._drop_read()
        for pool in (self.reader, self.writer):
            if pool is not None:
                pool.submit(_close_this_threads_connection).result()
                pool.shutdown()

    # --- read-ahead ---
    def read(self, after: Checkpoint, limit: int) -> list[RecordedEvent]:
        if self.pending_read is not None and self.pending_read[:2] == (after, limit):
            future = self.pending_read[2]
            self.pending_read = None
            return future.result()
        self._drop_read()
        return super().read(after, limit)

    def read_ahead(self, after: Checkpoint, limit: int) -> None:
        if not self.reads_ahead:
            return
        self._drop_read()
        if self.reader is None:
            self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        future = self.reader.submit(read_events, self.follower, self.state, after, limit)
        self.pending_read = (after, limit, future)

    def _drop_read(self) -> None:
        if self.pending_read is not None:
            self.pending_read[2].exception()  # wait for it; whatever it found is not wanted
            self.pending_read = None

    # --- write-behind ---
    def submit(
        self, events: Sequence[RecordedEvent], after: Checkpoint, skips: Skips, *, ahead: bool
    ) -> Outcome:
        # A batch alone (caught up) is applied in place: nothing to overlap it with.
        if not (self.writes_behind and (ahead or self.pending is not None)):
            return self.in_place(events, skips)
        continues = continuity.take(self.state, after)
        try:
            prepared = prepare(
                self.follower,
                self.state,
                events,
                after,
                skips,
                continues=continues,
                behind=self._settle,
            )
        except _WriteFailed:
            return self._take()
        except Exception as exc:
            self._join()
            if self.outcome.error is None:
                self.outcome.failed, self.outcome.error = events, exc
            return self._take()
        if not prepared.partial:
            continuity.handed(self.state, prepared.batch.to)
        self._join()
        if self.outcome.error is None:
            self.folded = prepared
            self.outcome.stops = prepared.stops
        return self._take()

    def write(self) -> None:
        if self.folded is None:
            return
        prepared, self.folded = self.folded, None
        if self.writer is None:
            self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-behind")
        self.pending = (prepared, self.writer.submit(self._write, prepared))

    def flush(self) -> Outcome:
        self._join()
        return self._take()

    def _write(self, prepared: Prepared) -> None:
        """On the writer's thread (its own connection): the batch's one transaction."""
        started = time.perf_counter()
        with transaction.atomic():
            finish(prepared, self.state, self.lease)
        PROJECTION_BATCH_SECONDS.labels(self.state.name).observe(time.perf_counter() - started)

    def _settle(self) -> None:
        """The follower is about to read its rows: the batch being written must be in."""
        self._join()
        if self.outcome.error is not None:
            raise _WriteFailed

    def _join(self) -> None:
        if self.pending is None:
            return
        prepared, future = self.pending
        self.pending = None
        error = future.exception()
        if error is None:
            self.outcome.committed.append(prepared.read)
        elif isinstance(error, Exception):
            self.outcome.failed, self.outcome.error = prepared.events, error
        else:
            raise error  # KeyboardInterrupt and the like

    def _take(self) -> Outcome:
        outcome, self.outcome = self.outcome, Outcome()
        if outcome.error is not None:
            # What was prepared ahead holds the failed batch's changes; the state may hold a
            # checkpoint moved in a transaction that did not commit.
            self.folded = None
            continuity.forget(self.state)
            reload(self.state)
        return outcome


def _close_this_threads_connection() -> None:
    connection.close()  # Django's connections are per thread


def strategy_for(follower: Follower, state: ProjectionState, lease: Lease) -> Strategy:
    return (follower.strategy or Strategy)(follower, state, lease)
