"""Coalesced wake-ups (config.wakeups) against the test Redis; no worker, no database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import current_app

from projections.engine import wakeups
from projections.engine.wakeups import CATCH_UP


@pytest.fixture
def on_redis(settings: Any, redis_url: str) -> Iterator[redis.Redis]:
    settings.CELERY_BROKER_URL = redis_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    wakeups._redis.cache_clear()
    client = redis.Redis.from_url(redis_url)
    client.delete(wakeups._flag(CATCH_UP))
    yield client
    client.delete(wakeups._flag(CATCH_UP))
    client.close()
    wakeups._redis.cache_clear()


def test_one_wake_up_waits_at_a_time_and_a_failed_send_does_not_block_the_next(
    on_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    failures = ["broker down"]

    def delay() -> None:
        if failures:
            raise ConnectionError(failures.pop())
        sent.append("catch_up")

    monkeypatch.setattr(current_app.tasks[CATCH_UP], "delay", delay)

    wakeups.wake(CATCH_UP)  # the send fails: nothing is queued, so nothing may hold the flag
    assert not on_redis.exists(wakeups._flag(CATCH_UP))
    wakeups.wake(CATCH_UP)
    wakeups.wake(CATCH_UP)  # coalesced: one is already waiting for a worker
    assert sent == ["catch_up"]

    wakeups.woken(CATCH_UP)  # the task starts: later commits must send again
    wakeups.wake(CATCH_UP)
    assert sent == ["catch_up", "catch_up"]
