"""Wake-ups for readers waiting on the log: every committed append is announced, and a waiting
reader (the feed's long poll) reads again when one is heard, rather than polling the database.

An append's transaction announces its commit (``announce_commit``, run by transaction.on_commit)
to this process's waiters and, where Redis is configured (settings.FEED_REDIS_URL), to every
process, by a PUBLISH on a channel named after the database. Each process that waits keeps one
subscriber thread (started with the first wait), whatever the number of waiters: a waiter
holds no connection of its own, to Redis or to the database. LISTEN/NOTIFY is not used: it
needs a database session kept between transactions, which PgBouncer's transaction pooling
(DATABASE_POOL_MODE=transaction) does not give.

What is heard is a count, never a payload: a waiter notes the count before it reads the log and
waits for it to change, so an append committed between its read and its wait is not missed.
Without a Redis connection (none configured, or down) ``listening()`` is False and waiters
re-read at growing intervals instead (eventstore.feed).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import cache
from typing import Final

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# A healthy Redis answers a PUBLISH in well under a millisecond; one that takes longer is
# treated as down rather than making the committing request wait.
PUBLISH_TIMEOUT_SECONDS: Final = 0.5
# After a failed PUBLISH, commits announce to other processes nothing for this long (their
# waiters re-read at least every few seconds: eventstore.feed).
PUBLISH_BACKOFF_SECONDS: Final = 2.0
# The subscriber checks its connection (PING) when it heard nothing for this long, and
# reconnects after a failure at growing intervals up to the longest.
HEALTH_CHECK_SECONDS: Final = 5
FIRST_RECONNECT_SECONDS: Final = 0.1
LONGEST_RECONNECT_SECONDS: Final = 5.0


class _Heard:
    """This process's count of announced commits, and waiting for it to change."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.count = 0

    def bump(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait(self, since: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the count to differ from ``since``; True if it does."""
        with self._changed:
            return self._changed.wait_for(lambda: self.count != since, timeout)


_heard = _Heard()


def redis_url() -> str:
    """The Redis that carries wake-ups between processes ("" for none)."""
    url: str = settings.FEED_REDIS_URL
    return url if url.startswith(("redis://", "rediss://", "unix://")) else ""


def channel() -> str:
    """One channel per database: Redis's pub/sub ignores the db number of the URL."""
    return f"eventstore:appended:{connections[DEFAULT_DB_ALIAS].settings_dict['NAME']}"


# --- announcing -------------------------------------------------------------------------------

_quiet_until = 0.0  # time.monotonic() before which commits publish nothing


@cache
def _publisher(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=PUBLISH_TIMEOUT_SECONDS,
        socket_connect_timeout=PUBLISH_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),  # no retries: a lost wake-up only delays a waiter
    )


def announce_commit() -> None:
    """Tell waiters that an append committed (called on commit; never raises)."""
    global _quiet_until  # noqa: PLW0603 - one deadline for the whole process, all threads
    _heard.bump()
    url = redis_url()
    if not url or time.monotonic() < _quiet_until:
        return
    try:
        _publisher(url).publish(channel(), b"")
    except redis.RedisError:
        logger.warning("could not announce a commit to other processes: Redis failed")
        _quiet_until = time.monotonic() + PUBLISH_BACKOFF_SECONDS


# --- hearing ----------------------------------------------------------------------------------


class _Subscriber:
    """A daemon thread subscribed to the channel, bumping the count at each message."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.pid = os.getpid()
        self.subscribed = False
        self.thread = threading.Thread(target=self._run, name="eventstore-wakeups", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        delay = FIRST_RECONNECT_SECONDS
        while True:
            client = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=2.0,
                socket_timeout=HEALTH_CHECK_SECONDS * 3,
                health_check_interval=HEALTH_CHECK_SECONDS,
            )
            pubsub = client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self.name)
                while True:
                    message = pubsub.get_message(timeout=HEALTH_CHECK_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._set_subscribed(True)  # what was missed meanwhile: read again
                        delay = FIRST_RECONNECT_SECONDS
                    elif message["type"] == "message":
                        _heard.bump()
            except (redis.RedisError, OSError, ValueError) as exc:
                if self.subscribed:
                    logger.warning("feed wake-ups: Redis failed (%s); waiters poll", type(exc))
                self._set_subscribed(False)
            finally:
                pubsub.close()
                client.close()
            time.sleep(delay)
            delay = min(delay * 2, LONGEST_RECONNECT_SECONDS)

    def _set_subscribed(self, subscribed: bool) -> None:
        self.subscribed = subscribed
        _heard.bump()  # waiters re-read, and learn whether to poll meanwhile


_subscribers: dict[tuple[int, str, str], _Subscriber] = {}
_subscribers_lock = threading.Lock()


def listening() -> bool:
    """Whether this process hears other processes' commits now (starts the subscriber)."""
    url = redis_url()
    if not url:
        return False
    key = (os.getpid(), url, channel())  # a forked child starts its own
    with _subscribers_lock:
        subscriber = _subscribers.get(key)
        if subscriber is None:
            subscriber = _subscribers[key] = _Subscriber(url, key[2])
    return subscriber.subscribed


def heard() -> int:
    """The count of commits heard so far: note it before reading, then ``wait(since=it)``."""
    return _heard.count


def wait(since: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for a commit heard after ``since``; True if one was."""
    return _heard.wait(since, timeout)
