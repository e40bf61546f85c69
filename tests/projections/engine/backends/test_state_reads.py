"""A catch-up turn's state read: the generation's state and whether any skip is recorded, the
same answer on both backends (one round trip on PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from projections.engine.backends import backend
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus

pytestmark = pytest.mark.django_db


def a_state(name: str = "p1") -> ProjectionState:
    return ProjectionState.objects.create(
        name=name, generation=1, active=True, status=ProjectionStatus.RUNNING
    )


def a_skip(name: str) -> ProjectionSkip:
    return ProjectionSkip.objects.create(
        name=name,
        generation=1,
        position=7,
        event_id=uuid.uuid4(),
        event_type="OrderCreated",
        reason="bad data",
        actor="ops",
    )


def test_the_turn_s_read_refreshes_the_state_and_says_no_skip_is_recorded() -> None:
    state = a_state()
    ProjectionState.objects.filter(pk=state.pk).update(position=41, tx_id=9, attempts=2)

    assert backend().reload_for_turn(state) == (True, False)
    assert (state.position, state.tx_id, state.attempts) == (41, 9, 2)


def test_the_turn_s_read_says_a_skip_is_recorded_for_this_projection_only() -> None:
    state, other = a_state("p1"), a_state("p2")
    a_skip("p1")

    assert backend().reload_for_turn(state) == (True, True)
    assert backend().reload_for_turn(other) == (True, False)


def test_the_turn_s_read_of_a_purged_generation_finds_nothing() -> None:
    state = a_state()
    a_skip("p1")
    ProjectionState.objects.filter(pk=state.pk).delete()

    assert backend().reload_for_turn(state) == (False, True)
