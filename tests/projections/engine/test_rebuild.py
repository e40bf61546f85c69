"""Rebuilds: replay into a new generation while the old one serves, then switch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection

from projections.engine import rebuild
from tests.projections import builders as b
from tests.projections.engine.support import in_threads
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def readable(position: int) -> bool:
    """Whether a reader of the log can see the event at ``position`` now (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tx_id < pg_snapshot_xmin(pg_current_snapshot()) FROM eventstore_event "
            "WHERE global_position = %s",
            [position],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def test_an_event_committed_while_a_rebuild_switches_is_applied_once_it_lets_go(
    five_orders: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    switching = threading.Event()
    late: list[dict[str, Any]] = []
    take_lock, drain = rebuild.projection_lock, rebuild.drain

    @contextmanager
    def noting_the_switch(name: str, generation: int, *, wait: bool = False) -> Iterator[bool]:
        with take_lock(name, generation, wait=wait) as acquired:
            if wait:  # only the switch (and skip) wait for the lock
                switching.set()
            yield acquired

    def drain_then_let_a_command_commit(*args: Any) -> int:
        read = drain(*args)
        in_main_thread = threading.current_thread() is threading.main_thread()
        if switching.is_set() and in_main_thread and not late:

            def command(_: int) -> None:
                late.append(b.place_order(customer_id="late"))  # its wake-up finds the lock
                wait_until(lambda: readable(late[0]["position"]), timeout=60)

            assert not in_threads(1, command)
        return read

    monkeypatch.setattr(rebuild, "projection_lock", noting_the_switch)
    monkeypatch.setattr(rebuild, "drain", drain_then_let_a_command_commit)

    rebuild.rebuild("order_views")

    assert late, "the command did not run inside the switch"
    assert b.unapplied("order_views") == 0
