"""A catch-up turn's start (``claim``): the generation's lock, its state reloaded and whether
any skip is recorded, the same answers on both backends (one round trip on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from projections.engine.backends import backend
from projections.engine.backends.base import Turn
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus

pytestmark = pytest.mark.django_db(transaction=True)


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


@pytest.fixture
def other_session() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Another session on the test database (advisory locks are per database)."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        yield other


def takes_lock(other: psycopg.Connection[tuple[object, ...]], state: ProjectionState) -> bool:
    [(locked,)] = other.execute(
        "SELECT pg_try_advisory_lock(hashtext(%s::text), %s::int)", [state.name, state.generation]
    ).fetchall()
    return bool(locked)


def test_a_turn_refreshes_the_state_and_says_no_skip_is_recorded() -> None:
    state = a_state()
    ProjectionState.objects.filter(pk=state.pk).update(position=41, tx_id=9, attempts=2)

    with backend().claim(state) as turn:
        assert turn == Turn(found=True, any_skips=False)
        assert (state.position, state.tx_id, state.attempts) == (41, 9, 2)


def test_a_turn_says_a_skip_is_recorded_for_this_projection_only() -> None:
    state, other = a_state("p1"), a_state("p2")
    a_skip("p1")

    with backend().claim(state) as turn:
        assert turn == Turn(found=True, any_skips=True)
    with backend().claim(other) as turn:
        assert turn == Turn(found=True, any_skips=False)


def test_a_turn_on_a_purged_generation_finds_nothing() -> None:
    state = a_state()
    ProjectionState.objects.filter(pk=state.pk).delete()

    with backend().claim(state) as turn:
        assert turn == Turn(found=False, any_skips=False)


@pytest.mark.postgres
def test_a_generation_owned_elsewhere_gives_no_turn_and_is_left_locked(
    other_session: psycopg.Connection[tuple[object, ...]],
) -> None:
    state = a_state()
    assert takes_lock(other_session, state)

    with backend().claim(state) as turn:
        assert turn is None

    with connection.cursor() as cursor:  # still the other session's
        cursor.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s::text), %s::int)",
            [state.name, state.generation],
        )
        assert cursor.fetchone() == (False,)


@pytest.mark.postgres
def test_a_turn_holds_the_lock_while_inside_and_lets_go_after(
    other_session: psycopg.Connection[tuple[object, ...]],
) -> None:
    state = a_state()

    with backend().claim(state) as turn:
        assert turn is not None
        assert not takes_lock(other_session, state)

    assert takes_lock(other_session, state)
