"""Poison events: a failing event stops only its projection, after backoff; retry and skip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, OperationalError, connection
from rest_framework.test import APIClient

from eventstore.models import Event
from eventstore.store import RecordedEvent
from projections.engine import base, runner
from projections.engine.generations import active_state
from projections.engine.poison import ProjectionError, retry, skip
from projections.models import ProjectionSkip, ProjectionStatus
from tests.projections import builders as b
from tests.projections.engine.support import Recording, applied_positions, projection_rows

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_poison_event_fails_only_its_projection_and_a_recorded_skip_loses_nothing_after_it(
    api: APIClient,
    poison_settings: Any,
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    before, poison, after = five_orders[:2], five_orders[2], five_orders[3:]
    register_projection(Recording("poisoned", poison=[poison["position"]]))

    first = runner.run("poisoned")

    state = active_state("poisoned")
    assert first == 2  # the events before the poison, found one at a time
    assert applied_positions("poisoned") == [o["position"] for o in before]
    assert (state.status, state.attempts, state.error_position) == (
        ProjectionStatus.RUNNING,
        1,
        poison["position"],
    )
    assert projection_rows(api)["poisoned"]["status"] == "stalled"  # retrying with backoff

    assert [runner.run("poisoned") for _ in range(3)] == [0, 0, 0]

    state.refresh_from_db()
    assert (state.status, state.attempts, state.position) == (
        ProjectionStatus.FAILED,
        3,
        before[-1]["position"],
    )
    assert state.last_error == (
        f"OrderCreated at position {poison['position']}: "
        f"ValueError: cannot project the event at {poison['position']}"
    )
    assert applied_positions("poisoned") == [o["position"] for o in before]

    # New events keep coming: the real projections keep up, the failed one stays put.
    later = b.place_order(customer_id="cust-later")
    b.catch_up_until_applied()
    rows = projection_rows(api)
    for name in b.READ_MODEL_PROJECTIONS:
        assert (rows[name]["status"], rows[name]["lag_events"]) == ("running", 0), name
    assert rows["poisoned"]["status"] == "failed"
    assert rows["poisoned"]["last_error"] == state.last_error
    assert rows["poisoned"]["lag_events"] == 4
    assert active_state("poisoned").attempts == 3

    retry("poisoned")
    assert active_state("poisoned").status == ProjectionStatus.RUNNING
    assert runner.run("poisoned") == 0  # still failing
    state.refresh_from_db()
    assert (state.attempts, state.error_position) == (1, poison["position"])

    record = skip("poisoned", reason="payload written by a broken importer", actor="ops")

    event = Event.objects.get(global_position=poison["position"])
    assert (record.name, record.position, record.event_id, record.event_type) == (
        "poisoned",
        poison["position"],
        event.event_id,
        "OrderCreated",
    )
    assert (record.reason, record.actor) == ("payload written by a broken importer", "ops")
    assert record.error == state.last_error
    assert runner.run("poisoned") == 3
    expected = [o["position"] for o in (*before, *after, later)]
    assert applied_positions("poisoned") == expected
    state.refresh_from_db()
    assert (state.status, state.attempts, state.error_position, state.last_error) == (
        ProjectionStatus.RUNNING,
        0,
        None,
        "",
    )
    assert state.events_applied == len(expected)
    row = projection_rows(api)["poisoned"]
    assert (row["status"], row["lag_events"], row["last_error"]) == ("running", 0, None)


class UnservedAt(Recording):
    """At the poison positions, the database cannot serve: the connection is lost, or the
    transaction turns read-only (as on a server made read-only) before the write."""

    def __init__(self, name: str, *, poison: Sequence[int], fault: str) -> None:
        super().__init__(name)
        self.at = set(poison)
        self.fault = fault

    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        if any(e.global_position in self.at for e in events):
            if self.fault == "unreachable":
                raise OperationalError("server closed the connection unexpectedly")
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL transaction_read_only = on")
        super().apply(events, generation)


@pytest.mark.parametrize("fault", ["unreachable", "read-only"])
def test_a_database_that_cannot_serve_is_no_failure_of_the_event(
    fault: str,
    poison_settings: Any,
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    at = five_orders[2]["position"]
    projection = register_projection(UnservedAt("unserved", poison=[at], fault=fault))

    with pytest.raises(DatabaseError):
        runner.run("unserved")

    state = active_state("unserved")
    assert (state.status, state.attempts, state.error_position, state.last_error) == (
        ProjectionStatus.RUNNING,
        0,
        None,
        "",
    )
    assert applied_positions("unserved") == [o["position"] for o in five_orders[:2]]
    projection.at.clear()  # the database serves again: the catch-up goes on from there
    assert runner.run("unserved") == 3
    assert applied_positions("unserved") == [o["position"] for o in five_orders]


def test_skip_and_retry_refuse_a_projection_that_has_not_failed(
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    register_projection(Recording("healthy"))
    runner.run("healthy")

    with pytest.raises(ProjectionError):
        skip("healthy", reason="why not", actor="ops")
    with pytest.raises(ProjectionError):
        retry("healthy")
    with pytest.raises(CommandError):
        call_command("projection_skip", "healthy", "--reason", "why not", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("projection_retry", "healthy", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("projection_retry", "no_such_projection", stdout=StringIO())
    assert applied_positions("healthy") == [o["position"] for o in five_orders]


def test_the_retry_and_skip_management_commands_resume_a_failed_projection(
    poison_settings: Any,
    register_projection: Callable[[base.Projection], base.Projection],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    poison = five_orders[1]["position"]
    register_projection(Recording("poisoned", poison=[poison]))
    for _ in range(3):
        runner.run("poisoned")
    assert active_state("poisoned").status == ProjectionStatus.FAILED
    status = StringIO()
    call_command("projection_status", stdout=status)
    assert f"last error: OrderCreated at position {poison}" in status.getvalue()

    retried = StringIO()
    call_command("projection_retry", "poisoned", stdout=retried)

    assert "read 0 events, failed again: OrderCreated at position" in retried.getvalue()
    with pytest.raises(ProjectionError):
        skip("poisoned", reason="   ", actor="ops")

    skipped = StringIO()
    call_command("projection_skip", "poisoned", "--reason", "known bad", stdout=skipped)

    assert f"skipped OrderCreated at position {poison}; then read 3 events" in skipped.getvalue()
    record = ProjectionSkip.objects.get()
    assert (record.position, record.reason) == (poison, "known bad")
    assert record.actor.startswith("cli:")  # no --actor: the OS user
    positions = [o["position"] for o in five_orders]
    assert applied_positions("poisoned") == [p for p in positions if p != poison]
    assert active_state("poisoned").status == ProjectionStatus.RUNNING
