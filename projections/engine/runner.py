"""The projection runner: read past a checkpoint, apply, move the checkpoint, exactly once.

Each batch is applied and its checkpoint advanced in ONE transaction, with a compare-and-swap on
the checkpoint, so a crash anywhere means neither loss nor double application, and two workers
can never both apply the same events. On PostgreSQL a worker also holds an advisory lock per
(projection, generation) while it runs, so a second worker returns at once instead of racing.
"""

from __future__ import annotations

import gc
import logging
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Final

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from common.db import fetch
from common.metrics import PROJECTION_BATCH_SECONDS
from eventstore.store import Checkpoint, RecordedEvent, read_all
from projections.engine import base, partitions
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL: Final = "projections"
BATCHES_PER_COLLECTION: Final = 10
MAX_BACKOFF_SECONDS: Final = 60.0

Progress = Callable[[int], None]


class CheckpointMoved(Exception):
    """Another worker advanced the checkpoint first; this batch was rolled back."""


class ProjectionError(Exception):
    """An operator action that does not apply to the projection's current state."""


def active_state(name: str) -> ProjectionState:
    """The generation queries read; created (empty, at the log's start) on first use."""
    base.get(name)
    state = ProjectionState.objects.filter(name=name, active=True).first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            state = ProjectionState.objects.create(name=name, generation=1, active=True)
            partitions.create(_tables(name), 1, attach=True)
            return state
    except IntegrityError:
        return ProjectionState.objects.get(name=name, active=True)


def active_generation(name: str) -> int:
    """The generation of ``name`` that queries read."""
    return active_state(name).generation


@contextmanager
def projection_lock(name: str, generation: int, *, wait: bool = False) -> Iterator[bool]:
    """Hold the advisory lock owning (projection, generation); yields False if another has it."""
    if connection.vendor != "postgresql":
        yield True  # SQLite serializes writers; the checkpoint compare-and-swap still guards.
        return
    function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    [(locked,)] = fetch(f"SELECT {function}(hashtext(%s::text), %s::int)", [name, generation])
    acquired = wait or bool(locked)
    try:
        yield acquired
    finally:
        if acquired:
            fetch("SELECT pg_advisory_unlock(hashtext(%s::text), %s::int)", [name, generation])


def run(name: str, *, generation: int | None = None, progress: Progress | None = None) -> int:
    """Catch one projection generation up with the log; returns the number of events read.

    Returns at once if another worker owns it, if it has failed, or if it waits for a retry.
    """
    return run_some(name, generation=generation, progress=progress)[0]


def run_some(
    name: str,
    *,
    generation: int | None = None,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> tuple[int, bool]:
    """Like ``run``, but stop after ``max_batches``; returns (events read, more may remain)."""
    projection = base.get(name)
    state = _active(name) if generation is None else _state(name, generation)
    read = 0
    budget = max_batches
    while True:
        with projection_lock(name, state.generation) as acquired:
            if not acquired:
                return read, False
            found = _reload(state)
            if generation is None and not (found and state.active):
                if _active_ids.pop(name, None) is None:
                    return read, False
                state = _active(name)  # a rebuild took over (or the hint was stale): follow
                continue
            if not found:
                return read, False
            if not _runnable(state):
                return read, False
            drained, batches = _drain(projection, state, progress, budget)
            read += drained
        if budget is not None:
            budget -= batches
            if budget <= 0:
                return read, True  # this turn is used up; others go first
        # A wake-up that found the lock taken relies on the holder to look once more after
        # releasing it: anything committed before that wake-up is visible to this check.
        if state.status == ProjectionStatus.FAILED or state.attempts:
            return read, False
        if not read_all(state.checkpoint, limit=1):
            return read, False


def _state(name: str, generation: int) -> ProjectionState:
    return ProjectionState.objects.get(name=name, generation=generation)


# name -> (id, generation) of the active generation, as this process last saw it. Only a hint:
# run_some reads the state again once it holds the lock, and looks the active one up anew if
# a rebuild has switched meanwhile.
_active_ids: dict[str, tuple[int, int]] = {}


def _active(name: str) -> ProjectionState:
    known = _active_ids.get(name)
    if known is not None:
        return ProjectionState(pk=known[0], name=name, generation=known[1], active=True)
    state = active_state(name)
    _active_ids[name] = (state.pk, state.generation)
    return state


_STATE_FIELDS: Final = (
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


def _reload(state: ProjectionState) -> bool:
    """Refresh ``state``; False if its generation is gone (purged after a rebuild)."""
    if connection.vendor != "postgresql":
        try:
            state.refresh_from_db()
        except ProjectionState.DoesNotExist:
            return False
        return True
    rows = fetch(
        f"SELECT {', '.join(_STATE_FIELDS)} "  # noqa: S608 - model metadata
        f"FROM {ProjectionState._meta.db_table} "
        "WHERE id = %s AND name = %s::text AND generation = %s",
        [state.pk, state.name, state.generation],
    )
    if not rows:
        return False
    for field, value in zip(_STATE_FIELDS, rows[0], strict=True):
        setattr(state, field, value)
    return True


def _runnable(state: ProjectionState) -> bool:
    if state.status in (ProjectionStatus.FAILED, ProjectionStatus.RETIRED):
        return False
    return state.retry_at is None or state.retry_at <= timezone.now()


def _drain(
    projection: base.Projection,
    state: ProjectionState,
    progress: Progress | None,
    max_batches: int | None = None,
) -> tuple[int, int]:
    """Apply batches until the log is read or ``max_batches`` were applied.

    After a full batch the next ones are larger (PROJECTION_CATCHUP_BATCH_SIZE): far behind,
    an order touched several times within a batch is written once, and each batch is read
    while the one before it is applied (_ReadAhead). A large batch that fails is read again at
    the normal size before the failing event is looked for.
    Returns (events read, batches applied).
    """
    read = 0
    batches = 0
    normal_size = batch_size = settings.PROJECTION_BATCH_SIZE
    with (
        _young_collections_only() as between_batches,
        _ReadAhead(projection.reads_metadata) as log,
    ):
        while max_batches is None or batches < max_batches:
            if batches % BATCHES_PER_COLLECTION == 0:
                # Also at a turn's start: with the young generations kept small, the
                # collector's own passes between turns stay short (lag p99 17 vs 55-66 ms).
                between_batches()
            events = log.read(state.checkpoint, batch_size)
            if not events:
                break
            batches += 1
            catching_up = len(events) == batch_size and (
                max_batches is None or batches < max_batches
            )
            if catching_up:
                batch_size = max(normal_size, settings.PROJECTION_CATCHUP_BATCH_SIZE)
                log.read_ahead(events[-1].checkpoint, batch_size)
            try:
                _apply(projection, state, events)
            except CheckpointMoved:
                if not _reload(state):
                    break
                continue
            except Exception:
                if len(events) > normal_size:
                    batch_size = normal_size
                    continue
                logger.warning("batch failed for %s; isolating the event", projection.name)
                read += _apply_one_by_one(projection, state, events)
                break
            read += len(events)
            if progress is not None:
                progress(len(events))
            if not catching_up:
                break  # all there was to read (or the turn is over); run() looks again
    return read, batches


class _ReadAhead:
    """The log, read one batch ahead on a second connection while PostgreSQL applies the
    current batch, so reading and applying use both cores.

    Only batches asked for in advance (``read_ahead``) are read on the second connection,
    which is opened at the first of them: a projector that is caught up never opens it.
    Reading ahead is safe because a log read depends only on where it starts, never on the
    projection's checkpoint; a batch read ahead that is not asked for is dropped.
    """

    def __init__(self, metadata: bool) -> None:
        self.metadata = metadata
        self.pool: ThreadPoolExecutor | None = None
        self.pending: tuple[Checkpoint, int, Future[list[RecordedEvent]]] | None = None

    def __enter__(self) -> _ReadAhead:
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
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            return  # SQLite: nothing gained; in a transaction: it may hold events of its own
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
def _young_collections_only() -> Iterator[Callable[[], None]]:
    """While batches are applied, the cyclic garbage collector looks only at young objects,
    and only when called (the function yielded; _drain calls it every
    BATCHES_PER_COLLECTION batches).

    A batch allocates tens of thousands of objects: left alone, the collector would run many
    times per batch and, now and then, walk everything the process holds (a projector's
    StateCache included): a third of a catch-up's time went there. Reference counting frees
    a batch's objects as usual (the order projections' batches leave no cycles at all; a
    young collection costs ~30 ms after a batch of 10,000); full collections resume
    afterwards.
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


def _apply(
    projection: base.Projection, state: ProjectionState, events: Sequence[RecordedEvent]
) -> None:
    relevant = [e for e in events if e.event_type in projection.handles]
    started = time.perf_counter()
    with transaction.atomic():
        projection.batch_starting(state.generation, state.checkpoint, events[-1].checkpoint)
        if relevant:
            projection.apply(relevant, state.generation)
        _advance(state, events[-1].checkpoint, applied=len(relevant))
    PROJECTION_BATCH_SECONDS.labels(projection.name).observe(time.perf_counter() - started)


def _advance(state: ProjectionState, to: Checkpoint, *, applied: int) -> None:
    """Compare-and-swap the checkpoint; raises CheckpointMoved (rolling back) if it moved.

    On PostgreSQL the same statement NOTIFYs waiting readers (delivered at commit) and lets
    the transaction commit without waiting for the WAL flush: a crash can lose only the
    latest batches, rows and checkpoint together, and they are applied again from the log.
    """
    notify = (
        ", pg_notify(%s, %s), set_config('synchronous_commit', 'off', true)"
        if connection.vendor == "postgresql"
        else ""
    )
    moved = fetch(
        f"UPDATE {ProjectionState._meta.db_table} SET tx_id = %s, position = %s, "  # noqa: S608
        "events_applied = events_applied + %s, attempts = 0, last_error = '', "
        "error_position = NULL, retry_at = NULL, updated_at = %s "
        f"WHERE id = %s AND tx_id = %s AND position = %s RETURNING id{notify}",
        [
            to.tx_id,
            to.position,
            applied,
            connection.ops.adapt_datetimefield_value(timezone.now()),
            state.pk,
            state.tx_id,
            state.position,
            *([NOTIFY_CHANNEL, state.name] if notify else []),
        ],
    )
    if len(moved) != 1:
        raise CheckpointMoved(f"{state.name} moved past {state.position} concurrently")
    state.tx_id, state.position = to.tx_id, to.position
    state.events_applied += applied
    state.attempts, state.last_error, state.error_position, state.retry_at = 0, "", None, None


def _apply_one_by_one(
    projection: base.Projection, state: ProjectionState, events: Sequence[RecordedEvent]
) -> int:
    """Apply events singly to find the one that fails; record it and stop before it."""
    for read, event in enumerate(events):
        try:
            _apply(projection, state, [event])
        except CheckpointMoved:
            _reload(state)
            return read
        except Exception as exc:
            _record_failure(state, event, exc)
            return read
    return len(events)


def _record_failure(state: ProjectionState, event: RecordedEvent, exc: Exception) -> None:
    attempts = state.attempts + 1 if state.error_position == event.global_position else 1
    failed = attempts >= settings.PROJECTION_MAX_ATTEMPTS
    backoff = min(
        settings.PROJECTION_RETRY_BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS
    )
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    state.attempts = attempts
    state.error_position = event.global_position
    state.last_error = f"{event.event_type} at position {event.global_position}: {error}"[:4000]
    state.retry_at = None if failed else timezone.now() + timedelta(seconds=backoff)
    if failed:
        state.status = ProjectionStatus.FAILED
    state.save(
        update_fields=[
            "attempts",
            "error_position",
            "last_error",
            "retry_at",
            "status",
            "updated_at",
        ]
    )
    log = logger.error if failed else logger.warning
    log(
        "projection %s failed on %s (attempt %s): %s",
        state.name,
        event.global_position,
        attempts,
        error,
    )


# --- operator actions (the admin and the management commands call these) --------------------
def retry(name: str) -> ProjectionState:
    """Clear a failure (or a pending backoff) so the next run tries the event again."""
    state = _failing_state(name)
    state.status = ProjectionStatus.RUNNING if state.active else ProjectionStatus.REBUILDING
    state.attempts = 0
    state.retry_at = None
    state.save(update_fields=["status", "attempts", "retry_at", "updated_at"])
    return state


def skip(name: str, *, reason: str, actor: str) -> ProjectionSkip:
    """Step over the event the projection is stuck on, recording who skipped it and why."""
    if not reason.strip():
        raise ProjectionError("A skip needs a reason.")
    state = _failing_state(name)
    with projection_lock(name, state.generation, wait=True), transaction.atomic():
        state.refresh_from_db()
        events = read_all(state.checkpoint, limit=1)
        if not events or events[0].global_position != state.error_position:
            raise ProjectionError(
                f"{name} is not stopped at event {state.error_position}; nothing skipped."
            )
        event = events[0]
        record = ProjectionSkip.objects.create(
            name=name,
            generation=state.generation,
            position=event.global_position,
            event_id=event.event_id,
            event_type=event.event_type,
            error=state.last_error,
            reason=reason,
            actor=actor,
        )
        _advance(state, event.checkpoint, applied=0)
        ProjectionState.objects.filter(pk=state.pk).update(
            status=ProjectionStatus.RUNNING if state.active else ProjectionStatus.REBUILDING
        )
    return record


def _failing_state(name: str) -> ProjectionState:
    base.get(name)
    state = (
        ProjectionState.objects.filter(name=name, error_position__isnull=False)
        .exclude(status=ProjectionStatus.RETIRED)
        .order_by("-generation")
        .first()
    )
    if state is None:
        raise ProjectionError(f"{name} has no failed event to retry or skip.")
    return state


# --- rebuild --------------------------------------------------------------------------------
def start_rebuild(name: str) -> ProjectionState:
    """The generation being rebuilt: resumed if a rebuild was interrupted, else a new one."""
    base.get(name)
    active_state(name)
    pending = (
        ProjectionState.objects.filter(name=name, active=False)
        .exclude(status=ProjectionStatus.RETIRED)
        .order_by("-generation")
        .first()
    )
    if pending is not None:
        return pending
    with transaction.atomic():
        top = ProjectionState.objects.filter(name=name).aggregate(top=Max("generation"))["top"]
        state = ProjectionState.objects.create(
            name=name, generation=(top or 0) + 1, status=ProjectionStatus.REBUILDING
        )
        # Detached until caught up: no index but the unique keys to maintain meanwhile.
        partitions.create(_tables(name), state.generation, attach=False)
        return state


def rebuild(name: str, *, progress: Progress | None = None) -> ProjectionState:
    """Replay the whole log into a new generation while the old one serves, then switch.

    Resumable: an interrupted rebuild continues from its own checkpoint when run again.
    """
    projection = base.get(name)
    target = start_rebuild(name)
    run(name, generation=target.generation, progress=progress)
    target.refresh_from_db()
    if target.status == ProjectionStatus.FAILED or target.error_position is not None:
        raise ProjectionError(f"Rebuild of {name} stopped: {target.last_error}")
    partitions.attach(_tables(name), target.generation)  # builds its indexes
    live = active_state(name)
    # Hold the live generation still while the new one takes the last events and takes over.
    with (
        projection_lock(name, live.generation, wait=True),
        projection_lock(name, target.generation, wait=True),
    ):
        target.refresh_from_db()
        while True:
            _drain(projection, target, progress)
            if target.error_position is not None or not read_all(target.checkpoint, limit=1):
                break
        if target.error_position is not None:
            raise ProjectionError(f"Rebuild of {name} stopped: {target.last_error}")
        with transaction.atomic():
            ProjectionState.objects.filter(pk=live.pk).update(
                active=False, status=ProjectionStatus.RETIRED, updated_at=timezone.now()
            )
            ProjectionState.objects.filter(pk=target.pk).update(
                active=True, status=ProjectionStatus.RUNNING
            )
    # Events committed while the locks were held may have found them taken: look once more.
    run(name)
    purge_retired()
    target.refresh_from_db()
    return target


def purge_retired(grace: timedelta | None = None) -> int:
    """Delete the rows of generations retired longer ago than ``grace``; returns how many.

    Queries read the active generation's number and then its rows in separate statements, so
    a retired generation keeps its rows for a grace period instead of vanishing under them.
    """
    if grace is None:
        grace = timedelta(seconds=settings.PROJECTION_RETIRED_GRACE_SECONDS)
    retired = ProjectionState.objects.filter(
        status=ProjectionStatus.RETIRED, updated_at__lt=timezone.now() - grace
    )
    purged = 0
    for state in retired:
        if connection.vendor == "postgresql":
            partitions.drop(_tables(state.name), state.generation)
        else:
            for model in base.get(state.name).tables:
                model._default_manager.filter(generation=state.generation).delete()
        state.delete()
        purged += 1
    return purged


def _tables(name: str) -> list[str]:
    return [model._meta.db_table for model in base.get(name).tables]
