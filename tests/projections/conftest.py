"""Fixtures of the projection tests: API clients, a settable clock, test projections, Celery."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.utils import timezone
from kombu import pools

from projections.engine import followers, generations

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
APPLIED_TABLE = "tests_projection_applied"


@dataclass
class Clock:
    """What django.utils.timezone.now answers while the fixture is active (so recorded_at)."""

    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def at(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the clock the event store stamps ``recorded_at`` with, at 2024-03-01 10:00 UTC."""
    frozen = Clock(datetime.fromisoformat("2024-03-01T10:00:00+00:00"))
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture
def register_projection() -> Iterator[Callable[[followers.Follower], followers.Follower]]:
    """Register test projections, with their generation 1 as ``migrate`` would create it;
    they are unregistered again after the test."""
    names: list[str] = []

    def register(projection: followers.Follower) -> followers.Follower:
        followers.register(projection)
        names.append(projection.name)
        generations.create_first_generation(projection.name)
        return projection

    yield register
    for name in names:
        followers.unregister(name)


@pytest.fixture
def applied_table() -> Iterator[str]:
    """A scratch table test projections record applied positions in (inside their batch)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {APPLIED_TABLE}")
        cursor.execute(
            f"CREATE TABLE {APPLIED_TABLE} "
            "(projection varchar(100) NOT NULL, generation integer NOT NULL, "
            "position bigint NOT NULL)"
        )
    yield APPLIED_TABLE
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {APPLIED_TABLE}")


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL


def _reset_broker_state(app: Any) -> None:
    """Drop the cached broker pools and queue declarations so that new settings apply."""
    pools.reset()  # kombu's process-wide connection and producer pools
    app._pool = None
    app.__dict__.pop("amqp", None)


@dataclass(frozen=True)
class CeleryOnRedis:
    app: Any
    queue: str
    broker_url: str

    def purge(self) -> None:
        with self.app.connection_for_write() as conn:
            conn.default_channel.queue_purge(self.queue)


@pytest.fixture
def celery_on_redis(redis_url: str) -> Iterator[CeleryOnRedis]:
    """The project's Celery app sending to a queue of its own on the test Redis (not eager)."""
    from config.celery import app

    queue = f"test-projections-{uuid.uuid4().hex[:12]}"
    keys = ("broker_url", "task_always_eager", "task_default_queue")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(broker_url=redis_url, task_always_eager=False, task_default_queue=queue)
    _reset_broker_state(app)
    setup = CeleryOnRedis(app, queue, redis_url)
    setup.purge()
    try:
        yield setup
    finally:
        setup.purge()
        app.conf.update(saved)
        _reset_broker_state(app)
        # The queue and its bindings in the test Redis are ours alone: drop them too.
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
        client.close()
