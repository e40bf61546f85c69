"""A catch-up turn's start (``claim``): the cursor's lease, its state reloaded and whether any
skip is recorded, the same answers on both backends (one statement on PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from projections.engine import leases
from projections.engine.backends import backend
from projections.engine.backends.base import Lease, Turn
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


def claim(state: ProjectionState, owner: str = "me", *, any_status: bool = False) -> Turn:
    return backend().claim(state, owner, 30.0, None if any_status else timezone.now())


def test_a_turn_refreshes_the_state_and_says_no_skip_is_recorded() -> None:
    state = a_state()
    ProjectionState.objects.filter(pk=state.pk).update(position=41, tx_id=9, attempts=2)

    turn = claim(state)

    assert turn == Turn(Lease("me", 1), found=True, active=True, any_skips=False)
    assert (state.position, state.tx_id, state.attempts) == (41, 9, 2)
    row = ProjectionState.objects.get(pk=state.pk)
    assert (row.owner, row.fencing) == ("me", 1)
    assert row.lease_until is not None


def test_a_turn_says_a_skip_is_recorded_for_this_projection_only() -> None:
    state, other = a_state("p1"), a_state("p2")
    a_skip("p1")

    assert claim(state).any_skips
    assert not claim(other).any_skips


def test_a_turn_on_a_purged_generation_finds_nothing() -> None:
    state = a_state()
    ProjectionState.objects.filter(pk=state.pk).delete()

    assert claim(state) == Turn(None, found=False, active=False, any_skips=False)


def test_a_cursor_leased_elsewhere_gives_no_turn_until_its_lease_is_released() -> None:
    state = a_state()
    theirs = claim(state, "them")
    assert theirs.lease is not None

    mine = claim(ProjectionState.objects.get(pk=state.pk), "me")
    assert mine == Turn(None, found=True, active=True, any_skips=False)
    assert ProjectionState.objects.get(pk=state.pk).owner == "them"

    backend().release(state, theirs.lease)
    again = claim(state, "me")
    assert again.lease == Lease("me", theirs.lease.fencing + 1)


def test_a_lease_that_ran_out_is_claimed_by_another_with_a_new_fencing_token() -> None:
    state = a_state()
    theirs = claim(state, "them")
    assert theirs.lease is not None
    ProjectionState.objects.filter(pk=state.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    mine = claim(state, "me")

    assert mine.lease == Lease("me", theirs.lease.fencing + 1)
    backend().release(state, theirs.lease)  # a stale release lets go of nothing
    assert ProjectionState.objects.get(pk=state.pk).owner == "me"


def test_a_failed_or_backing_off_cursor_is_claimed_only_by_an_operators_action() -> None:
    failed, waiting = a_state("failed"), a_state("waiting")
    ProjectionState.objects.filter(pk=failed.pk).update(status=ProjectionStatus.FAILED)
    ProjectionState.objects.filter(pk=waiting.pk).update(
        retry_at=timezone.now() + timedelta(minutes=1)
    )

    assert claim(failed) == Turn(None, found=True, active=True, any_skips=False)
    assert claim(waiting).lease is None
    assert claim(failed, any_status=True).lease is not None
    assert claim(waiting, any_status=True).lease is not None


def test_holding_waits_for_a_lease_then_gives_up_without_it() -> None:
    state = a_state()
    theirs = leases.claim(state, owner="them")
    assert theirs.lease is not None

    with leases.holding(ProjectionState.objects.get(pk=state.pk), wait=0.1) as turn:
        assert turn.lease is None
    assert ProjectionState.objects.get(pk=state.pk).owner == "them"
