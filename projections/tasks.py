"""Celery tasks of the read side: the catch-up that commits and the beat sweep both send."""

from __future__ import annotations

import logging

from celery import shared_task

from projections import base, runner

logger = logging.getLogger(__name__)


@shared_task(name="projections.catch_up", ignore_result=True)
def catch_up(names: list[str] | None = None) -> dict[str, int]:
    """Catch projections up with the log. Carries no payload: the worker reads the log itself.

    A projection another worker is applying is passed over at once (its owner looks again
    before it lets go), so sending this task often is cheap.
    """
    selected = names or [p.name for p in base.all_projections()]
    read = {name: runner.run(name) for name in selected}
    runner.purge_retired()
    return read
