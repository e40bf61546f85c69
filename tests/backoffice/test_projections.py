"""Projections in the back office: the status /api/projections answers, and the operator's
repairs (rebuild, retry, skip), each recorded with who did it and refused without the
permission projections.operate_projections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from projections.engine import followers, generations, runner, tasks
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus
from tests.backoffice.conftest import VIEW_ALL, StaffFactory, page, permission
from tests.projections import builders as b
from tests.projections.conftest import Clock
from tests.projections.engine.support import Recording, projection_rows
from tests.projections.read_models.shop import Shop

PROJECTIONS = "/admin/projections/projectionstate/"


@pytest.fixture
def operator(staff: StaffFactory) -> Client:
    """Staff of the group projection-operators (made here: transactional tests flush it)."""
    group, _ = Group.objects.get_or_create(name="projection-operators")
    group.permissions.add(permission("projections.operate_projections"))
    return staff(*VIEW_ALL, username="operator", groups=("projection-operators",))


@pytest.fixture
def poisoned(
    settings: Any,
    register_projection: Callable[[followers.Follower], followers.Follower],
    applied_table: str,
    admin_shop: Shop,
) -> ProjectionState:
    """A projection stopped (failed) at the shop's third event, which it can never apply."""
    settings.PROJECTION_RETRY_BACKOFF_SECONDS = 0
    register_projection(Recording("poisoned", poison=[admin_shop.positions[2]]))
    for _ in range(3):
        runner.run("poisoned")
    state = generations.active_state("poisoned")
    assert state.status == ProjectionStatus.FAILED
    return state


def run_action(client: Client, action: str, state: ProjectionState, **form: str) -> str:
    response = client.post(
        PROJECTIONS, {"action": action, "_selected_action": [state.pk], **form}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


def logged(user: str) -> list[str]:
    return [e.change_message for e in LogEntry.objects.filter(user__username=user)]


@pytest.mark.django_db
def test_the_group_projection_operators_holds_the_permission_after_migrate() -> None:
    group = Group.objects.get(name="projection-operators")
    assert group.permissions.filter(codename="operate_projections").exists()


@pytest.mark.django_db
def test_a_projection_left_behind_with_no_worker_says_stalled_as_the_api_does(
    boss: Client, admin_shop: Shop, clock: Clock, clerk: Any
) -> None:
    b.append_new_order()  # no wake-up: nothing applies it
    clock.advance(minutes=5)
    api = APIClient()
    api.force_authenticate(clerk)
    answers = projection_rows(api)
    html = page(boss, PROJECTIONS)
    for name in b.READ_MODEL_PROJECTIONS:
        assert answers[name]["status"] == "stalled"
        assert answers[name]["lag_events"] == 1
    assert html.count('<span class="badge badge-warn">stalled</span>') == 3
    assert ">running<" not in html


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_retry_that_fails_again_says_so_and_is_recorded(
    operator: Client, poisoned: ProjectionState
) -> None:
    html = run_action(operator, "retry", poisoned)
    assert "Projection poisoned: retried the failing event, but it failed again" in html
    assert "cannot project the event at" in html
    assert 'class="success"' not in html
    assert f'href="/admin/eventstore/event/{poisoned.error_position}/change/"' in html
    assert logged("operator") == [f"Retried event {poisoned.error_position}."]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_staff_with_view_permission_only_cannot_retry_skip_or_rebuild(
    staff: StaffFactory, poisoned: ProjectionState, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(tasks.rebuild_projection, "delay", sent.append)
    viewer = staff(*VIEW_ALL, username="viewer")
    assert "Retry the failing event" not in page(viewer, PROJECTIONS)
    for action in ("retry", "skip", "rebuild_projection"):
        run_action(viewer, action, poisoned, reason="because", apply="1")
    state = ProjectionState.objects.get(pk=poisoned.pk)
    assert (state.status, state.attempts) == (ProjectionStatus.FAILED, 3)
    assert not ProjectionSkip.objects.exists()
    assert sent == []
    assert logged("viewer") == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_skip_asks_why_and_records_who_when_and_why(
    operator: Client, poisoned: ProjectionState
) -> None:
    form = run_action(operator, "skip", poisoned)
    assert 'name="reason"' in form
    assert "This field is required." in run_action(
        operator, "skip", poisoned, reason=" ", apply="1"
    )
    assert not ProjectionSkip.objects.exists()

    html = run_action(operator, "skip", poisoned, reason="a test order, never real", apply="1")

    skip = ProjectionSkip.objects.get()
    assert (skip.actor, skip.reason, skip.position) == (
        "operator",
        "a test order, never real",
        poisoned.error_position,
    )
    assert f"Projection poisoned: skipped event {skip.position}; it is moving again" in html
    assert generations.active_state("poisoned").error_position is None
    assert logged("operator") == [f"Skipped event {skip.position}: a test order, never real"]


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_is_sent_to_a_worker_and_its_progress_shows_while_the_old_one_serves(
    operator: Client, admin_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(tasks.rebuild_projection, "delay", sent.append)
    live = generations.active_state("order_views")

    html = run_action(operator, "rebuild_projection", live)

    assert sent == ["order_views"]
    assert "Rebuild of order_views sent to a worker" in html
    assert logged("operator") == ["Rebuild of order_views requested."]
    generations.start_rebuild("order_views")  # what the worker does first
    head = admin_shop.positions[-1]
    assert f"generation 2: rebuilding, 0% (0 of {head:,})" in page(operator, PROJECTIONS)

    before = b.read_tables(["order_views"])
    tasks.rebuild_projection("order_views")  # the task itself, as a worker runs it
    assert generations.active_state("order_views").generation == 2
    assert b.read_tables(["order_views"]) == before
    assert "generation 2: rebuilding" not in page(operator, PROJECTIONS)
