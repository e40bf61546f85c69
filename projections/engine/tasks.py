"""Celery tasks of the read side: the catch-up that commits and the beat sweep both send, and
the rebuild the back office asks a worker for."""

from __future__ import annotations

import logging
from typing import Final

from celery import shared_task
from django.conf import settings

from projections.engine import base, generations, rebuild, runner
from projections.engine.poison import ProjectionError
from projections.engine.wakeups import CATCH_UP, woken

logger = logging.getLogger(__name__)
REBUILD: Final = "projections.rebuild"
# A rebuild replays the whole log: hours on a large one, far beyond the catch-up's limit.
REBUILD_TIME_LIMIT_SECONDS: Final = 6 * 3600


@shared_task(name=CATCH_UP, ignore_result=True)
def catch_up(names: list[str] | None = None) -> dict[str, int]:
    """Catch projections up with the log. Carries no payload: the worker reads the log itself.

    Projections take turns, a batch each by default, so under steady load none waits behind
    another. One that another worker is applying is passed over at once (its owner looks again
    after it lets go: runner.run_some), so sending this task often is cheap.
    """
    woken(CATCH_UP)
    read = dict.fromkeys(names or [p.name for p in base.in_turn_order()], 0)
    more = True
    while more:  # rounds until one finds every projection caught up: none is left behind
        more = False
        for name in read:
            count, unfinished = runner.run_some(
                name, max_batches=settings.PROJECTION_BATCHES_PER_TURN
            )
            read[name] += count
            more = more or unfinished
    generations.purge_retired()
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
