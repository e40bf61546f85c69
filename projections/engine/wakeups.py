"""Coalesced wake-ups: send a payload-free task unless one sent earlier has not started yet.

Every command commit asks for a catch-up; a worker only needs one queued at a time. The sender
sets a short-lived Redis flag with SET NX and sends only when it set it; the task clears the
flag before it reads the log, so a commit that found the flag set is read by that task. A
lost flag or message only delays: the beat sweep sends the same task every few seconds.
Without a Redis broker (eager Celery, the embedded default) the task simply runs.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Final

import redis
from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

FLAG_TTL_MS: Final = 10_000
# The catch-up task (projections.engine.tasks); the beat sweep in settings sends it too.
CATCH_UP: Final = "projections.catch_up"


@cache
def _redis() -> redis.Redis | None:
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _flag(task_name: str) -> str:
    return f"wakeup-pending:{task_name}"


def wake(task_name: str) -> None:
    """Send ``task_name`` (no arguments) unless a send of it is still waiting for a worker."""
    client = _redis()
    try:
        if client is not None and not client.set(_flag(task_name), 1, nx=True, px=FLAG_TTL_MS):
            return
        current_app.tasks[task_name].delay()
    except Exception:
        # Losing a wake-up only delays the read side: the beat sweep sends the same task.
        logger.warning("could not send %s", task_name, exc_info=True)
        woken(task_name)  # no task is waiting: the next commit must try to send one again


def woken(task_name: str) -> None:
    """Called by the task before it reads anything: later commits must send a new one."""
    client = _redis()
    if client is None:
        return
    try:
        client.delete(_flag(task_name))
    except redis.RedisError:
        logger.warning("could not clear the wake-up flag of %s", task_name, exc_info=True)


def wake_projections() -> None:
    """Ask a worker to catch the projections up (runs inline when Celery is eager)."""
    wake(CATCH_UP)
