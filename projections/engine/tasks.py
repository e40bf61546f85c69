"""Celery tasks of the read side: the catch-up that commits and the beat sweep both send."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from projections.engine import base, generations, runner
from projections.engine.wakeups import CATCH_UP, woken


@shared_task(name=CATCH_UP, ignore_result=True)
def catch_up(names: list[str] | None = None) -> dict[str, int]:
    """Catch projections up with the log. Carries no payload: the worker reads the log itself.

    Projections take turns, a batch each by default, so under steady load none waits behind
    another. One that another worker is applying is passed over at once (its owner looks again
    before it lets go), so sending this task often is cheap.
    """
    woken(CATCH_UP)
    read = dict.fromkeys(names or [p.name for p in base.all_projections()], 0)
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
