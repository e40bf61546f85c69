"""Builders and helpers shared by the event store tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from eventstore.store import NewEvent

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


def wait_for(condition: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Return the first truthy value of ``condition()``; fail if none comes within ``timeout``.

    Polls because the conditions here are database states another connection changes; PostgreSQL
    offers no notification for "the oldest running transaction moved on".
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)
