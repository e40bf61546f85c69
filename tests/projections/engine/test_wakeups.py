"""Coalesced wake-ups (projections.engine.wakeups) on the test Redis or a hung one, no worker."""

from __future__ import annotations

import socket
import time
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
    wakeups._quiet_until = 0.0


def backoff_over() -> None:
    wakeups._quiet_until = 0.0


def test_one_wake_up_waits_at_a_time_and_a_failed_send_does_not_block_the_next_after_the_backoff(
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
    wakeups.wake(CATCH_UP)  # within the back-off: not even tried
    assert (sent, failures) == ([], [])
    backoff_over()
    wakeups.wake(CATCH_UP)
    wakeups.wake(CATCH_UP)  # coalesced: one is already waiting for a worker
    assert sent == ["catch_up"]

    wakeups.woken(CATCH_UP)  # the task starts: later commits must send again
    wakeups.wake(CATCH_UP)
    assert sent == ["catch_up", "catch_up"]


def test_while_redis_is_unreachable_one_command_a_backoff_tries_it_and_fails_fast(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker that hangs costs a command at most the short timeout, once per back-off."""
    listener = socket.socket()  # accepts connections (the kernel does) and never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    wakeups._redis.cache_clear()
    sent: list[str] = []
    monkeypatch.setattr(current_app.tasks[CATCH_UP], "delay", lambda: sent.append("catch_up"))
    try:
        started = time.monotonic()
        wakeups.wake(CATCH_UP)
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(100):
            wakeups.wake(CATCH_UP)
        others = time.monotonic() - started
    finally:
        listener.close()
        wakeups._redis.cache_clear()
        wakeups._quiet_until = 0.0
    assert sent == []
    assert wakeups.REDIS_TIMEOUT_SECONDS <= first < wakeups.REDIS_TIMEOUT_SECONDS + 0.5
    assert others < 0.05
