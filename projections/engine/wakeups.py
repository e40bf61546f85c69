"""Coalesced wake-ups: send a payload-free task unless one sent earlier has not started yet.

Every command commit asks for a catch-up; a worker only needs one queued at a time. The sender
sets a short-lived Redis flag with SET NX and sends only when it set it; the task clears the
flag before it reads the log, so a commit that found the flag set is read by that task. A
lost flag or message only delays: the beat sweep sends the same task every few seconds.
Without a Redis broker (eager Celery, the embedded default) the task simply runs.

A failed send makes senders leave the broker alone for a moment: a broker that is down or
hangs would otherwise cost every command its timeouts, for a wake-up the sweep re-sends.
"""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import Final

import redis
from celery import current_app
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from projections.engine import followers

logger = logging.getLogger(__name__)

FLAG_TTL_MS: Final = 10_000
# The catch-up task (projections.engine.tasks); the beat sweep in settings sends it too.
CATCH_UP: Final = "projections.catch_up"
# After a failed send, commits send nothing for this long (the sweep runs every 3 s).
BACKOFF_SECONDS: Final = 2.0
# A healthy Redis answers a SET in well under a millisecond; one that takes longer is treated
# as down rather than making the command wait.
REDIS_TIMEOUT_SECONDS: Final = 0.5

_quiet_until = 0.0  # time.monotonic() before which wake() sends nothing


@cache
def _redis() -> redis.Redis | None:
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),  # no retries: the next commit or the sweep tries again
    )


def _flag(task_name: str, queue: str | None = None, lane: int | None = None) -> str:
    return (
        f"wakeup-pending:{task_name}"
        + (f":{queue}" if queue else "")
        + (f":lane-{lane}" if lane else "")
    )


def _back_off() -> None:
    global _quiet_until  # noqa: PLW0603 - one deadline for the whole process, all threads
    _quiet_until = time.monotonic() + BACKOFF_SECONDS


def _send(task_name: str, queue: str | None, lane: int | None = None) -> bool:
    try:
        task = current_app.tasks[task_name]
        if queue is None and not lane:
            task.delay()
        else:  # the task learns its queue (which followers to run) from its argument
            kwargs: dict[str, str | int] = {"queue": queue} if queue else {}
            if lane:
                kwargs["lane"] = lane
            if queue:
                task.apply_async(kwargs=kwargs, queue=queue)
            else:
                task.apply_async(kwargs=kwargs)
    except Exception:
        # Losing a wake-up only delays the read side: the beat sweep sends the same task.
        logger.warning("could not send %s", task_name, exc_info=True)
        return False
    return True


def wake(task_name: str, queue: str | None = None, lane: int | None = None) -> None:
    """Send ``task_name`` (no arguments; to ``queue`` with that queue as its argument, if
    given; with its ``lane``, if one) unless a send of it is still waiting for a worker, or
    one failed less than BACKOFF_SECONDS ago."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _send(task_name, queue, lane)  # no broker: the task runs here and now
        return
    if time.monotonic() < _quiet_until:
        return
    client = _redis()
    flag = _flag(task_name, queue, lane)
    try:
        if client is not None and not client.set(flag, 1, nx=True, px=FLAG_TTL_MS):
            return
    except redis.RedisError:
        logger.warning("could not send %s: Redis failed", task_name, exc_info=True)
        _back_off()
        return
    if not _send(task_name, queue, lane):
        _back_off()
        woken(task_name, queue, lane)  # no task waits: the next commit must try to send one


def woken(task_name: str, queue: str | None = None, lane: int | None = None) -> None:
    """Called by the task before it reads anything: later commits must send a new one."""
    client = _redis()
    if client is None:
        return
    try:
        client.delete(_flag(task_name, queue, lane))
    except redis.RedisError:
        logger.warning("could not clear the wake-up flag of %s", task_name, exc_info=True)


def wake_projections() -> None:
    """Ask a worker to catch the projections up, and every follower on a queue of its own
    (runs inline when Celery is eager: the default queue's catch-up then runs the others)."""
    wake(CATCH_UP)
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        wake_queues()


def wake_queues() -> None:
    """Wake the catch-up of every queue other than the default one that followers run on."""
    for queue in sorted(followers.queues()):
        wake(CATCH_UP, queue)


def wake_lanes(queue: str | None, lanes: int) -> None:
    """Send the catch-up of lanes 1..``lanes``-1 of ``queue`` (lane 0 is the one running): each
    is taken by a free worker, so that shards run on several workers at once."""
    for lane in range(1, lanes):
        wake(CATCH_UP, queue, lane)
