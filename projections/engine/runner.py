"""The catch-up loop: read the log past a generation's checkpoint, apply a batch and move the
checkpoint in one transaction (projections.engine.checkpoints), until the log is read.

``run`` and ``run_some`` are what the catch-up task, the management commands and a rebuild
call; how fast the loop goes is projections.engine.throughput's, what a failing event does is
projections.engine.poison's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from django.db import transaction
from django.utils import timezone

from common.metrics import PROJECTION_BATCH_SECONDS
from eventstore.store import RecordedEvent, read_all
from projections.engine import base, poison
from projections.engine.checkpoints import (
    CheckpointMoved,
    LockLost,
    advance,
    claim,
    reload,
)
from projections.engine.generations import active_state
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus
from projections.engine.throughput import (
    BATCHES_PER_COLLECTION,
    BatchSizes,
    Outcome,
    ReadAhead,
    WriteBehind,
    young_collections_only,
)

logger = logging.getLogger(__name__)

# Told how many events each committed batch read, and which recorded skips it stepped over.
Progress = Callable[[int], None]
SteppedOver = Callable[[ProjectionSkip], None]


def run(
    name: str,
    *,
    generation: int | None = None,
    progress: Progress | None = None,
    stepped_over: SteppedOver | None = None,
) -> int:
    """Catch one projection generation (the active one by default) up with the log; returns
    the number of events read.

    Returns at once if another worker owns it, if it has failed, or if it waits for a retry.
    """
    return run_some(name, generation=generation, progress=progress, stepped_over=stepped_over)[0]


def run_some(
    name: str,
    *,
    generation: int | None = None,
    progress: Progress | None = None,
    max_batches: int | None = None,
    stepped_over: SteppedOver | None = None,
) -> tuple[int, bool]:
    """Like ``run``, but stop after ``max_batches``; returns (events read, more may remain)."""
    projection = base.get(name)
    state = _active(name) if generation is None else _state(name, generation)
    read = 0
    budget = max_batches
    while True:
        with claim(state) as turn:
            if turn is None:  # another worker owns it
                return read, False
            found = turn.found
            if generation is None and not (found and state.active):
                if _active_ids.pop(name, None) is None:
                    return read, False
                state = _active(name)  # a rebuild took over (or the hint was stale): follow
                continue
            if not found or not _runnable(state):
                return read, False
            drained, batches = drain(
                projection, state, progress, budget, stepped_over, any_skips=turn.any_skips
            )
            read += drained
        if state.status == ProjectionStatus.FAILED or state.attempts:
            return read, False
        # A wake-up that found the lock taken relies on the holder to look once more after
        # releasing it: anything committed before that wake-up is visible to that look. After a
        # turn that read events the caller's next turn at this projection is that look (under
        # load the log has grown meanwhile: a look now would find more, every time).
        if drained and budget is not None:
            return read, True
        if not read_all(state.checkpoint, limit=1):
            return read, False
        if budget is not None:
            budget -= batches
            if budget <= 0:
                return read, True  # this turn is used up; others go first


def _state(name: str, generation: int) -> ProjectionState:
    return ProjectionState.objects.get(name=name, generation=generation)


# name -> (id, generation) of the active generation, as this process last saw it: saves the
# catch-up a query per turn. Only a hint for this loop: run_some reads the state again once it
# holds the lock and looks the active one up anew if a rebuild has switched meanwhile. Readers
# never use it (projections.engine.generations.active_generation asks the database).
_active_ids: dict[str, tuple[int, int]] = {}


def _active(name: str) -> ProjectionState:
    known = _active_ids.get(name)
    if known is not None:
        return ProjectionState(pk=known[0], name=name, generation=known[1], active=True)
    state = active_state(name)
    _active_ids[name] = (state.pk, state.generation)
    return state


def _runnable(state: ProjectionState) -> bool:
    if state.status in (ProjectionStatus.FAILED, ProjectionStatus.RETIRED):
        return False
    return state.retry_at is None or state.retry_at <= timezone.now()


def drain(
    projection: base.Projection,
    state: ProjectionState,
    progress: Progress | None,
    max_batches: int | None = None,
    stepped_over: SteppedOver | None = None,
    *,
    any_skips: bool = True,
) -> tuple[int, int]:
    """Apply batches (the caller owns the generation) until the log is read, a batch fails,
    or ``max_batches`` were applied. Returns (events read, batches applied). ``any_skips``
    False: the caller has just seen that no skip is recorded for the projection.

    Where it can, the next batch is folded while this one is written (WriteBehind); a batch
    that fails is handled alike either way: read again at the normal size if it was larger,
    else applied one event at a time to find the failing one (projections.engine.poison).
    """
    read = 0
    batches = 0
    sizes = BatchSizes()
    skips = poison.recorded_skips(projection.name) if any_skips else {}
    with (
        young_collections_only() as between_batches,
        ReadAhead(projection.reads_metadata) as log,
        WriteBehind(projection, state) as behind,
    ):
        after = state.checkpoint
        finishing = max_batches is not None and max_batches <= 0
        while True:
            events: Sequence[RecordedEvent] = ()
            if not finishing:
                if batches % BATCHES_PER_COLLECTION == 0:
                    # Also at a turn's start: with the young generations kept small, the
                    # collector's own passes between turns stay short.
                    between_batches()
                events = log.read(after, sizes.current)
            catching_up = False
            if events:
                batches += 1
                catching_up = sizes.full(len(events)) and (
                    max_batches is None or batches < max_batches
                )
                if catching_up:
                    sizes.grow()
                    log.read_ahead(events[-1].checkpoint, sizes.current)
                # A batch alone (caught up) is applied in place: nothing to overlap it with.
                if behind.enabled and (catching_up or behind.busy):
                    outcome = behind.fold(events, after, skips)
                else:
                    outcome = _apply_in_place(projection, state, events, skips)
            else:
                outcome = behind.flush()
            for batch in outcome.committed:
                read += len(batch)
                _report_skips(state, batch, skips, stepped_over)
                if progress is not None:
                    progress(len(batch))
            if outcome.error is not None:
                if isinstance(outcome.error, LockLost):
                    break
                if isinstance(outcome.error, CheckpointMoved):
                    if not reload(state):
                        break
                elif not sizes.shrink_after_failure(len(outcome.failed)):
                    logger.warning("batch failed for %s; isolating the event", projection.name)
                    applied = poison.isolate(
                        state,
                        outcome.failed,
                        lambda event: apply_batch(projection, state, [event], skips),
                    )
                    _report_skips(state, outcome.failed[:applied], skips, stepped_over)
                    read += applied
                    break
                after = state.checkpoint
                finishing = max_batches is not None and batches >= max_batches
                continue
            if not events:
                break
            behind.write()
            after = events[-1].checkpoint
            # Not full: all there was to read (or the turn is over); run() looks again once
            # the batch in flight is in.
            finishing = not catching_up
    return read, batches


def _apply_in_place(
    projection: base.Projection,
    state: ProjectionState,
    events: Sequence[RecordedEvent],
    skips: Mapping[int, ProjectionSkip],
) -> Outcome:
    try:
        apply_batch(projection, state, events, skips)
    except Exception as exc:
        return Outcome(failed=events, error=exc)
    return Outcome(committed=[events])


def apply_batch(
    projection: base.Projection,
    state: ProjectionState,
    events: Sequence[RecordedEvent],
    skips: Mapping[int, ProjectionSkip],
) -> None:
    """Apply ``events`` but the ``skips`` to ``state``'s generation and move its checkpoint
    past them, in one transaction; CheckpointMoved (rolled back) if another worker got there
    first."""
    handles = projection.handles
    relevant = [e for e in events if e.event_type in handles and e.global_position not in skips]
    started = time.perf_counter()
    with transaction.atomic():
        projection.batch_starting(state.generation, state.checkpoint, events[-1].checkpoint)
        if relevant:
            projection.apply(relevant, state.generation)
        advance(state, events[-1].checkpoint, applied=len(relevant))
    PROJECTION_BATCH_SECONDS.labels(projection.name).observe(time.perf_counter() - started)


def _report_skips(
    state: ProjectionState,
    committed: Sequence[RecordedEvent],
    skips: Mapping[int, ProjectionSkip],
    stepped_over: SteppedOver | None,
) -> None:
    """Say which recorded skips a committed batch stepped over (nothing is skipped silently)."""
    if not skips:
        return
    for event in committed:
        skip = skips.get(event.global_position)
        if skip is not None:
            logger.info(
                "%s generation %s stepped over event %s, skipped by %s: %s",
                state.name,
                state.generation,
                skip.position,
                skip.actor,
                skip.reason,
            )
            if stepped_over is not None:
                stepped_over(skip)
