"""Poison events: a failing event stops only its projection, after backoff; retry and skip."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Sequence
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import DatabaseError, OperationalError, connection
from rest_framework.test import APIClient

from eventstore import store
from eventstore.models import Event
from eventstore.store import RecordedEvent
from orders.streams import STREAM_TYPE, stream_id_for
from projections.engine import followers, runner
from projections.engine.generations import active_state
from projections.engine.leases import holding
from projections.engine.poison import SKIP_FIELDS, ProjectionError, retry, skip
from projections.engine.rebuild import rebuild
from projections.models import ProjectionSkip, ProjectionState, ProjectionStatus
from tests.projections import builders as b
from tests.projections.engine.support import Recording, applied_positions, projection_rows

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_poison_event_fails_only_its_projection_and_a_recorded_skip_loses_nothing_after_it(
    api: APIClient,
    poison_settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
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

    def handle(self, events: Sequence[RecordedEvent], batch: followers.Batch) -> int | None:
        if any(e.global_position in self.at for e in events):
            if self.fault == "unreachable":
                raise OperationalError("server closed the connection unexpectedly")
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL transaction_read_only = on")
        return super().handle(events, batch)


@pytest.mark.parametrize("fault", ["unreachable", "read-only"])
def test_a_database_that_cannot_serve_is_no_failure_of_the_event(
    fault: str,
    poison_settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
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
    register_projection: Callable[[followers.Follower], followers.Follower],
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
    register_projection: Callable[[followers.Follower], followers.Follower],
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

    with pytest.raises(CommandError) as failed_again:
        call_command("projection_retry", "poisoned", stdout=StringIO())

    assert str(failed_again.value).startswith(
        f"poisoned: the event at position {poison} failed again (attempt 1; read 0 events): "
        f"OrderCreated at position {poison}: ValueError"
    )
    with pytest.raises(SystemExit) as exited:  # as an operator's shell runs it
        ManagementUtility(["manage.py", "projection_retry", "poisoned"]).execute()
    assert exited.value.code == 1
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


def test_a_retry_whose_event_now_applies_exits_zero_saying_it_caught_up(
    poison_settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    poison = five_orders[1]["position"]
    projection = register_projection(Recording("flaky", poison=[poison]))
    for _ in range(3):
        runner.run("flaky")
    assert active_state("flaky").status == ProjectionStatus.FAILED
    assert isinstance(projection, Recording)
    projection.poison.clear()  # whatever broke it was fixed

    retried = StringIO()
    call_command("projection_retry", "flaky", stdout=retried)

    assert retried.getvalue().strip() == "flaky: read 4 events, caught up."
    assert applied_positions("flaky") == [o["position"] for o in five_orders]


def test_a_retry_that_another_worker_holds_waits_for_its_outcome_then_fails_naming_it(
    poison_settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
    five_orders: list[dict[str, Any]],
) -> None:
    poison = five_orders[1]["position"]
    register_projection(Recording("held", poison=[poison]))
    for _ in range(3):
        runner.run("held")
    state = active_state("held")
    owner = threading.Event()
    release = threading.Event()

    def hold() -> None:  # another worker's turn, on a connection of its own
        try:
            with holding(state, wait=30, any_status=True) as turn:
                assert turn.lease is not None
                owner.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert owner.wait(30)
        with pytest.raises(CommandError) as undecided:
            call_command("projection_retry", "held", "--timeout", "0.5", stdout=StringIO())
    finally:
        release.set()
        holder.join(30)

    assert str(undecided.value) == (
        f"held: another worker holds the projection and has not tried the event at position "
        f"{poison} within 0.5 s; see projection_status."
    )


def test_skips_are_exported_with_the_log_and_an_imported_log_steps_over_them_again(
    poison_settings: Any, tmp_path: Path
) -> None:
    first = b.place_order(customer_id="alice")
    broken = {"order_id": first["order_id"], "product_id": "x", "quantity": "lots"}
    store.append_to_stream(
        stream_id_for(uuid.UUID(first["order_id"])),
        STREAM_TYPE,
        [store.NewEvent(event_type="OrderItemAdded", data=broken)],
        expected_version=1,
    )
    b.place_order(customer_id="bob")
    for name in b.READ_MODEL_PROJECTIONS:  # each fails on the broken event, then is skipped
        for _ in range(3):
            runner.run(name)
        assert active_state(name).status == ProjectionStatus.FAILED
        call_command("projection_skip", name, "--reason", "known bad", stdout=StringIO())
    b.catch_up_until_applied()
    tables = b.read_tables()
    skips = list(ProjectionSkip.objects.order_by("name").values(*SKIP_FIELDS))
    assert len(skips) == 3
    path = tmp_path / "log.jsonl"
    exported = StringIO()
    call_command("eventstore_export", output=str(path), stderr=exported)
    assert exported.getvalue() == "Exported 3 events, 3 projection_skip records.\n"

    call_command("flush", interactive=False)  # an empty database
    imported = StringIO()
    call_command("eventstore_import", str(path), stderr=imported)
    assert imported.getvalue() == "Imported 3 events, 3 projection_skip records.\n"
    rebuild("order_views")
    b.catch_up_until_applied()

    assert list(ProjectionSkip.objects.order_by("name").values(*SKIP_FIELDS)) == skips
    states = ProjectionState.objects.filter(
        active=True, name__in=b.READ_MODEL_PROJECTIONS
    ).values_list("name", "status")  # (other followers' cursors, a subscriber's, aside)
    assert dict(states) == dict.fromkeys(b.READ_MODEL_PROJECTIONS, ProjectionStatus.RUNNING)
    assert b.read_tables() == tables


def test_an_import_refuses_a_skip_of_an_event_its_log_does_not_have(tmp_path: Path) -> None:
    order = b.place_order()
    skip = {
        "kind": "projection_skip",
        "name": "order_views",
        "generation": 1,
        "position": order["position"],
        "event_id": str(uuid.uuid4()),  # not the event at that position
        "event_type": "OrderCreated",
        "error": "",
        "reason": "known bad",
        "actor": "ops",
        "skipped_at": "2026-01-02T03:04:05+00:00",
    }
    path = tmp_path / "log.jsonl"
    call_command("eventstore_export", output=str(path), stderr=StringIO())
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(skip) + "\n")
    call_command("flush", interactive=False)

    with pytest.raises(CommandError, match="no projection_skip records: the skip of order_views"):
        call_command("eventstore_import", str(path), stderr=StringIO())

    assert not ProjectionSkip.objects.exists()
