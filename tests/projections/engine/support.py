"""Helpers of the engine's tests: a follower that records what it handles, worker threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django.db import connection
from rest_framework.test import APIClient

from eventstore.models import Event
from eventstore.store import RecordedEvent
from projections.engine import followers
from projections.read_models.folding import ORDER_EVENT_TYPES
from tests.projections.conftest import APPLIED_TABLE

JOIN_TIMEOUT = 60.0


class Recording(followers.Follower):
    """Records each event it handles in the scratch table, inside the batch's transaction, so
    a rolled-back batch leaves no trace. Raises on the events named poison."""

    handles: ClassVar[frozenset[str] | None] = ORDER_EVENT_TYPES

    def __init__(self, name: str, *, poison: Sequence[int] = ()) -> None:
        self.name = name  # type: ignore[misc]
        self.poison = set(poison)

    def handle(self, events: Sequence[RecordedEvent], batch: followers.Batch) -> int | None:
        with connection.cursor() as cursor:
            for event in events:
                if event.global_position in self.poison:
                    raise ValueError(f"cannot project the event at {event.global_position}")
                cursor.execute(
                    f"INSERT INTO {APPLIED_TABLE} (projection, generation, position) "
                    "VALUES (%s, %s, %s)",
                    [self.name, batch.generation, event.global_position],
                )
        return None


def applied_positions(name: str, *, generation: int | None = None) -> list[int]:
    """The positions ``name`` applied (in any generation, or in ``generation``), in order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT position FROM {APPLIED_TABLE} WHERE projection = %s "
            "AND (%s::int IS NULL OR generation = %s::int) ORDER BY position",
            [name, generation, generation],
        )
        return [row[0] for row in cursor.fetchall()]


def order_event_positions() -> list[int]:
    return sorted(
        Event.objects.filter(event_type__in=ORDER_EVENT_TYPES).values_list(
            "global_position", flat=True
        )
    )


def projection_rows(api: APIClient) -> dict[str, dict[str, Any]]:
    response = api.get("/api/projections")
    assert response.status_code == 200
    return {row["name"]: row for row in response.json()}


def in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run ``target(n)`` in ``count`` threads, each on its own connection; returns their errors."""
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            target(number)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "a worker thread did not finish"
    return errors
