"""Rebuilds: replay into a new generation while the old one serves, then switch; a rebuild
steps over the events operators skipped, and one stopped by a failing event says `failed`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from projections.engine import followers, rebuild, runner
from projections.engine.generations import active_state
from projections.engine.leases import Turn
from projections.engine.models import ProjectionState
from projections.engine.poison import skip
from tests.projections import builders as b
from tests.projections.engine.support import (
    Recording,
    applied_positions,
    in_threads,
    projection_rows,
)
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
    take_lease, drain = rebuild.holding, rebuild.drain

    @contextmanager
    def noting_the_switch(state: ProjectionState, **kwargs: Any) -> Iterator[Turn]:
        with take_lease(state, **kwargs) as turn:  # only the switch holds leases so
            switching.set()
            yield turn

    def drain_then_let_a_command_commit(*args: Any, **kwargs: Any) -> tuple[int, int, bool]:
        read = drain(*args, **kwargs)
        in_main_thread = threading.current_thread() is threading.main_thread()
        if switching.is_set() and in_main_thread and not late:

            def command(_: int) -> None:
                late.append(b.place_order(customer_id="late"))  # its wake-up finds the lease
                wait_until(lambda: readable(late[0]["position"]), timeout=60)

            assert not in_threads(1, command)
        return read

    monkeypatch.setattr(rebuild, "holding", noting_the_switch)
    monkeypatch.setattr(rebuild, "drain", drain_then_let_a_command_commit)

    rebuild.rebuild("order_views")

    assert late, "the command did not run inside the switch"
    assert b.unapplied("order_views") == 0


# --- skips and failures -----------------------------------------------------------------------
def rebuild_saying(name: str) -> str:
    out = StringIO()
    call_command("rebuild_projection", name, "--no-progress", stdout=out)
    return out.getvalue()


def status_line(name: str) -> tuple[str, str]:
    """The projection_status command's line for ``name`` and the whole output."""
    out = StringIO()
    call_command("projection_status", stdout=out)
    [line] = [line for line in out.getvalue().splitlines() if line.startswith(name)]
    return line, out.getvalue()


def test_an_operators_skip_holds_for_every_later_generation(
    api: APIClient,
    poison_settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    poison = five_orders[2]["position"]
    register_projection(Recording("poisoned", poison=[poison]))
    for _ in range(3):
        runner.run("poisoned")
    skip("poisoned", reason="payload written by a broken importer", actor="ops")
    runner.run("poisoned")
    others = [o["position"] for o in five_orders if o["position"] != poison]
    assert applied_positions("poisoned", generation=1) == others

    for generation in (2, 3):
        said = rebuild_saying("poisoned")

        assert (
            f"poisoned: stepped over skipped event {poison} (OrderCreated), skipped by ops on "
        ) in said
        assert said.splitlines()[0].endswith("UTC: payload written by a broken importer")
        assert applied_positions("poisoned", generation=generation) == others
        assert active_state("poisoned").generation == generation
        assert projection_rows(api)["poisoned"]["status"] == "running"


def test_a_rebuild_stopped_by_a_failing_event_is_failed_until_an_operator_skips_it(
    api: APIClient,
    poison_settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    projection = register_projection(Recording("strict"))
    runner.run("strict")
    poison = five_orders[3]["position"]
    assert isinstance(projection, Recording)
    projection.poison.add(poison)  # as if a new version of its code refused the event
    error = f"OrderCreated at position {poison}: ValueError: cannot project the event at {poison}"

    with pytest.raises(CommandError, match=f"Rebuild of strict stopped: {error}"):
        rebuild_saying("strict")

    row = projection_rows(api)["strict"]
    assert (row["status"], row["last_error"], row["lag_events"]) == ("failed", error, 0)
    line, output = status_line("strict")
    assert line.endswith("  failed")
    assert f"last error: {error}" in output
    assert active_state("strict").generation == 1  # generation 1 serves on, complete
    with pytest.raises(CommandError, match="stopped"):
        rebuild_saying("strict")  # nothing moves it but an operator

    call_command("projection_skip", "strict", "--reason", "known bad", stdout=StringIO())
    rebuild_saying("strict")

    assert active_state("strict").generation == 2
    row = projection_rows(api)["strict"]
    assert (row["status"], row["last_error"]) == ("running", None)
    assert f"stepped over skipped event {poison}" in rebuild_saying("strict")
    others = [o["position"] for o in five_orders if o["position"] != poison]
    assert applied_positions("strict", generation=3) == others
