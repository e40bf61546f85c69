"""Celery tasks of the read side: the catch-up that commits and the beat sweep both send, and
the rebuild the back office asks a worker for."""

from __future__ import annotations

import logging
from typing import Final

from celery import shared_task
from django.conf import settings

from projections.engine import followers, generations, rebuild, runner
from projections.engine.followers import shard_count
from projections.engine.poison import ProjectionError
from projections.engine.wakeups import CATCH_UP, wake_lanes, wake_queues, woken

logger = logging.getLogger(__name__)
REBUILD: Final = "projections.rebuild"
# A rebuild replays the whole log: hours on a large one, far beyond the catch-up's limit.
REBUILD_TIME_LIMIT_SECONDS: Final = 6 * 3600


@shared_task(name=CATCH_UP, ignore_result=True)
def catch_up(
    names: list[str] | None = None, queue: str | None = None, lane: int | None = None
) -> dict[str, int]:
    """Catch followers up with the log: those named, else those of ``queue`` (None: the
    default queue's, the projections). Carries no payload: the worker reads the log itself.

    Followers (and their shards) take turns, a batch each by default, so under steady load
    none waits behind another. One that another worker is applying is passed over at once
    (its owner looks again after it lets go: runner.run_some), so sending this task often is
    cheap. The default queue's catch-up (the beat sweep sends it) also wakes the other queues.

    Shards run on several workers at once through lanes: with followers of up to L shards (in
    their active generations), lane k's catch-up gives the shards numbered k modulo L their
    turns first, then the others' (passed over at once where another worker holds them). The
    catch-up sent without a lane (every commit's, the beat sweep's) is lane 0 and sends lanes
    1..L-1, each to be taken by whichever worker is free (wakeups.wake_lanes).
    """
    woken(CATCH_UP, queue, lane)
    chosen = [followers.get(name) for name in names] if names else followers.in_turn_order(queue)
    counts = generations.active_shard_counts([f.name for f in chosen])
    cursors = [(f, shard) for f in chosen for shard in range(counts.get(f.name, shard_count(f)))]
    # As many lanes as the most shards a follower's active generation has (a count asked for
    # but not rebuilt yet runs no lanes of its own).
    lanes = max((shard + 1 for _f, shard in cursors), default=1)
    if lane is None and not names and lanes > 1 and not settings.CELERY_TASK_ALWAYS_EAGER:
        wake_lanes(queue, lanes)
        lane = 0
    if lane is not None:  # this lane's shards first
        cursors.sort(key=lambda cursor: cursor[1] % lanes != lane % lanes)
    read = dict.fromkeys((f.name for f, _shard in cursors), 0)
    more = True
    while more:  # rounds until one finds every cursor caught up: none is left behind
        more = False
        for follower, shard in cursors:
            count, unfinished = runner.run_some(
                follower.name,
                shard=shard,
                max_batches=settings.PROJECTION_BATCHES_PER_TURN,
                follower=follower,
            )
            read[follower.name] += count
            more = more or unfinished
    if queue is None and not lane:
        generations.purge_retired()
        if not names:
            wake_queues()
    return read


@shared_task(name=REBUILD, ignore_result=True, time_limit=REBUILD_TIME_LIMIT_SECONDS)
def rebuild_projection(name: str) -> None:
    """Rebuild ``name`` on a worker (the back office's action): the new generation's checkpoint
    is its progress, the old one serves until the switch. A rebuild stopped by a failing event
    is recorded on its generation (status ``failed``) for an operator to retry or skip; one
    stopped by the time limit resumes where it was when it is asked for again."""
    try:
        rebuild.rebuild(name)
    except ProjectionError:
        logger.exception("rebuild of %s stopped", name)
