"""Builders and condition waits shared by the event store tests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connection

from eventstore.store import NewEvent
from tests.waiting import wait_until

T = TypeVar("T")


def an_event(event_type: str = "ThingHappened", **data: Any) -> NewEvent:
    """A new event with a realistic metadata envelope; ``data`` defaults to a small payload."""
    return NewEvent(
        event_type=event_type,
        data=data or {"note": "something happened"},
        metadata={
            "command_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
            "causation_id": str(uuid.uuid4()),
            "actor": "tests",
        },
    )


def events(count: int, event_type: str = "ThingHappened") -> list[NewEvent]:
    return [an_event(event_type, n=n) for n in range(1, count + 1)]


def log_settled(*, timeout: float = 120.0) -> None:
    """Wait until read_all can return every committed event.

    On PostgreSQL read_all stops below the oldest running transaction of the whole server, in
    any database: another test run holding a transaction open delays (never changes) what a
    follower sees. SQLite has nothing to wait for.
    """
    if connection.vendor != "postgresql":
        return

    def settled() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(max(tx_id), '0'::xid8) < pg_snapshot_xmin(pg_current_snapshot()) "
                "FROM eventstore_event"
            )
            row = cursor.fetchone()
        return bool(row and row[0])

    wait_until(
        settled, timeout=timeout, interval=0.005, what="older transactions on the server to end"
    )


def in_own_connection(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    """A thread running ``target`` on its own Django connection, closed when it ends."""

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# The contract's Event: what the feed answers and a webhook delivers as its "data".
EVENT_KEYS = {
    "event_id",
    "stream_id",
    "stream_type",
    "version",
    "position",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
}
