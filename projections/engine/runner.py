"""The catch-up loop of every follower: claim its cursor (a lease), read the log past its
checkpoint, apply batch after batch (projections.engine.strategies: handle and the fenced
checkpoint move in one transaction) until the log is read, then let go.

``run`` and ``run_some`` are what the catch-up task, the management commands and a rebuild
call; what a failing event does is projections.engine.poison's.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Final

from django.conf import settings

from eventstore.store import RecordedEvent
from projections.engine import followers, poison
from projections.engine.followers import Follower
from projections.engine.generations import GenerationMissing, active_state, create_first_generation
from projections.engine.leases import Lease, LeaseLost, claim, release
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus
from projections.engine.strategies import apply_in_place, read_events, strategy_for

logger = logging.getLogger(__name__)

# Told how many events each committed batch read, and which recorded skips it stepped over.
Progress = Callable[[int], None]
SteppedOver = Callable[[ProjectionSkip], None]

# While draining, a young collection runs before every this many batches.
BATCHES_PER_COLLECTION: Final = 10


def run(
    name: str,
    *,
    generation: int | None = None,
    shard: int = 0,
    progress: Progress | None = None,
    stepped_over: SteppedOver | None = None,
) -> int:
    """Catch one follower's cursor (the active generation by default) up with the log;
    returns the number of events read.

    Returns at once if another worker holds its lease, if it has failed, or if it waits for
    a retry.
    """
    return run_some(
        name, generation=generation, shard=shard, progress=progress, stepped_over=stepped_over
    )[0]


def run_some(
    name: str,
    *,
    generation: int | None = None,
    shard: int = 0,
    progress: Progress | None = None,
    max_batches: int | None = None,
    stepped_over: SteppedOver | None = None,
    follower: Follower | None = None,
) -> tuple[int, bool]:
    """Like ``run``, but stop after ``max_batches``; returns (events read, more may remain).
    ``follower``: the one named ``name``, if the caller has it (saves asking providers)."""
    if follower is None:
        follower = followers.get(name)
    state = _active(name, shard) if generation is None else _state(name, generation, shard)
    read = 0
    budget = max_batches
    while True:
        turn = claim(state)
        lease = turn.lease
        if lease is not None and (generation is not None or state.active):
            drained, batches, stopped = _turn(
                follower,
                state,
                lease,
                progress=progress,
                budget=budget,
                stepped_over=stepped_over,
                any_skips=turn.any_skips,
            )
            read += drained
        elif generation is None and not (turn.found and turn.active):
            if lease is not None:
                release(state, lease)
            if _active_ids.pop((name, shard), None) is None:
                return read, False
            state = _active(name, shard)  # a rebuild took over (or the hint was stale): follow
            continue
        else:  # leased elsewhere, failed, or waiting for its retry
            return read, False
        if stopped or state.status == ProjectionStatus.FAILED or state.attempts:
            return read, False
        # A wake-up that found the lease taken relies on the holder to look once more after
        # releasing it: anything committed before that wake-up is visible to that look. After a
        # turn that read events the caller's next turn at this cursor is that look (under load
        # the log has grown meanwhile: a look now would find more, every time).
        if drained and budget is not None:
            return read, True
        if not read_events(follower, state, state.checkpoint, 1):
            return read, False
        if budget is not None:
            budget -= batches
            if budget <= 0:
                return read, True  # this turn is used up; others go first


def _turn(
    follower: Follower,
    state: ProjectionState,
    lease: Lease,
    *,
    progress: Progress | None,
    budget: int | None,
    stepped_over: SteppedOver | None,
    any_skips: bool,
) -> tuple[int, int, bool]:
    """``drain`` under ``lease``, released after (also when the turn fails)."""
    try:
        result = drain(
            follower,
            state,
            lease,
            progress=progress,
            max_batches=budget,
            stepped_over=stepped_over,
            any_skips=any_skips,
        )
    except BaseException:
        with suppress(Exception):  # the lease runs out by itself; this thread may claim it again
            release(state, lease)
        raise
    release(state, lease)
    return result


def _state(name: str, generation: int, shard: int) -> ProjectionState:
    return ProjectionState.objects.get(name=name, generation=generation, shard=shard)


# (name, shard) -> (id, generation) of the active generation, as this process last saw it:
# saves the catch-up a query per turn. Only a hint for this loop: run_some looks the active
# one up anew if the claim finds it no longer active. Readers never use it
# (projections.engine.generations.active_generation asks the database).
_active_ids: dict[tuple[str, int], tuple[int, int]] = {}


def _active(name: str, shard: int) -> ProjectionState:
    known = _active_ids.get((name, shard))
    if known is not None:
        return ProjectionState(
            pk=known[0], name=name, generation=known[1], shard=shard, active=True
        )
    try:
        state = active_state(name, shard)
    except GenerationMissing:
        if any(f.name == name for f in followers.registered()):
            raise  # a projection's generation 1 is made by ``migrate``
        create_first_generation(name)  # a provided follower's cursor, at its first turn
        state = active_state(name, shard)
    _active_ids[(name, shard)] = (state.pk, state.generation)
    return state


class BatchSizes:
    """How many events to read next: PROJECTION_BATCH_SIZE while caught up; after a full
    batch (far behind) PROJECTION_CATCHUP_BATCH_SIZE, so an order touched several times is
    written once; back to the normal size to isolate a failure of a large batch. A follower's
    own ``batch_size`` holds throughout."""

    def __init__(self, follower: Follower) -> None:
        self.normal: int = follower.batch_size or settings.PROJECTION_BATCH_SIZE
        self.large: int = follower.batch_size or settings.PROJECTION_CATCHUP_BATCH_SIZE
        self.current: int = self.normal

    def full(self, read: int) -> bool:
        """Whether a batch of ``read`` events was full (more are likely waiting)."""
        return read == self.current

    def grow(self) -> None:
        self.current = max(self.normal, self.large)

    def shrink_after_failure(self, read: int) -> bool:
        """After a batch of ``read`` events failed: True if it is worth reading again at the
        normal size (a smaller batch commits the events before the failing one)."""
        if read <= self.normal:
            return False
        self.current = self.normal
        return True


def drain(
    follower: Follower,
    state: ProjectionState,
    lease: Lease,
    *,
    progress: Progress | None = None,
    max_batches: int | None = None,
    stepped_over: SteppedOver | None = None,
    any_skips: bool = True,
) -> tuple[int, int, bool]:
    """Apply batches under ``lease`` until the log is read, a batch fails, the follower asks
    to stop, or ``max_batches`` were applied. Returns (events read, batches applied, whether
    the follower asked to stop). ``any_skips`` False: the caller has just seen that no skip is
    recorded for the follower.

    Batches go through the follower's strategy; a batch that fails is handled alike either
    way: read again at the normal size if it was larger, else applied one event at a time to
    find the failing one (projections.engine.poison).
    """
    read = 0
    batches = 0
    stopped = False
    sizes = BatchSizes(follower)
    skips = poison.recorded_skips(state.name) if any_skips else {}
    with (
        young_collections_only() as between_batches,
        strategy_for(follower, state, lease) as pipe,
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
                events = pipe.read(after, sizes.current)
            catching_up = False
            if events:
                batches += 1
                catching_up = sizes.full(len(events)) and (
                    max_batches is None or batches < max_batches
                )
                if catching_up:
                    sizes.grow()
                    pipe.read_ahead(events[-1].checkpoint, sizes.current)
                outcome = pipe.submit(events, after, skips, ahead=catching_up)
            else:
                outcome = pipe.flush()
            for batch in outcome.committed:
                read += len(batch)
                _report_skips(state, batch, skips, stepped_over)
                if progress is not None:
                    progress(len(batch))
            if outcome.error is not None:
                if isinstance(outcome.error, LeaseLost):
                    logger.warning("%s", outcome.error)
                    break
                if not sizes.shrink_after_failure(len(outcome.failed)):
                    logger.warning("batch failed for %s; isolating the event", state.name)
                    applied = poison.isolate(
                        state,
                        lease,
                        outcome.failed,
                        lambda event: (
                            not apply_in_place(follower, state, lease, [event], skips).stops
                        ),
                    )
                    _report_skips(state, outcome.failed[:applied], skips, stepped_over)
                    read += applied
                    break
                after = state.checkpoint
                finishing = max_batches is not None and batches >= max_batches
                continue
            if not events:
                break
            pipe.write()
            after = events[-1].checkpoint
            stopped = stopped or outcome.stops
            # Not full: all there was to read (or the turn is over, or the follower asked to
            # stop); run() looks again once the batch in flight is in.
            finishing = not catching_up or stopped
    return read, batches, stopped


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


@contextmanager
def young_collections_only() -> Iterator[Callable[[], None]]:
    """While batches are applied, the cyclic garbage collector looks only at young objects,
    and only when called (the function yielded).

    A batch allocates tens of thousands of objects: left alone, the collector would run many
    times per batch and, now and then, walk everything the process holds (a follower's
    cached states included). Reference counting frees a batch's objects as usual; full
    collections resume afterwards.
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
