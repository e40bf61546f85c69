"""Can this instance serve? The database (reachable, writable), its schema, and the broker.

Shared by /readyz (ops.probes) and /metrics (ops.metrics). Each check is bounded and answers
with a state word, never an address or an error text (those go to the log, redacted).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Final

import redis
from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from kombu.exceptions import OperationalError
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

OK: Final = "ok"
UNREACHABLE: Final = "unreachable"
READ_ONLY: Final = "read_only"
UNAPPLIED: Final = "unapplied"
UNKNOWN: Final = "unknown"
EAGER: Final = "eager"
# A broker that has not answered a PING by then counts as unreachable: readiness probes give up
# after about a second, and this check does not decide readiness anyway.
BROKER_TIMEOUT_SECONDS: Final = 0.5

_migrations_applied = False  # once true, stays true for the life of the process


def database() -> str:
    """``ok`` when the database answers and would take a write; ``read_only`` when it is a
    standby or refuses writes (default_transaction_read_only); ``unreachable`` otherwise."""
    try:
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.execute("SELECT 1")
                return OK
            # Each statement is its own transaction here (autocommit): transaction_read_only
            # is what a command's transaction would get.
            cursor.execute(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'"
            )
            in_recovery, read_only = cursor.fetchone()
    except DatabaseError:
        logger.warning("readiness: database unreachable", exc_info=True)
        return UNREACHABLE
    return READ_ONLY if in_recovery or read_only else OK


def migrations() -> str:
    """``ok`` when every migration this code has is applied; ``unapplied`` when some are not
    (a deploy ran before its migrate); ``unknown`` without a database.

    Asked again only until it is ``ok``: migrations are not unapplied under a running process.
    """
    global _migrations_applied  # noqa: PLW0603 - one answer for the whole process
    if _migrations_applied:
        return OK
    try:
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        logger.warning("readiness: migrations unknown", exc_info=True)
        return UNKNOWN
    if unapplied:
        return UNAPPLIED
    _migrations_applied = True
    return OK


def broker() -> str:
    """``ok`` when the broker answers within BROKER_TIMEOUT_SECONDS, ``unreachable`` when not,
    ``eager`` without one (tasks run in-process)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return EAGER
    url = str(current_app.conf.broker_url)
    try:
        if url.startswith(("redis://", "rediss://")):
            _redis(url).ping()
        else:
            _kombu_connects()
    except (redis.RedisError, OperationalError, OSError):
        logger.warning("readiness: broker unreachable", exc_info=True)
        return UNREACHABLE
    return OK


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=BROKER_TIMEOUT_SECONDS,
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


def _kombu_connects() -> None:
    conn = current_app.connection_for_write()
    try:
        conn.ensure_connection(max_retries=0, timeout=1)  # kombu takes whole seconds
    except conn.connection_errors as exc:
        raise OperationalError(str(exc)) from exc
    finally:
        conn.release()
