"""Where each projection stands: position, head, lag in events and seconds, and status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from eventstore.store import backlog, head_position
from projections.engine import followers
from projections.engine.generations import active_state
from projections.engine.models import ProjectionState, ProjectionStatus


def projection_status_list() -> list[dict[str, Any]]:
    head = head_position()
    now = timezone.now()
    rebuilds = {
        state.name: state
        for state in ProjectionState.objects.filter(active=False).exclude(
            status=ProjectionStatus.RETIRED
        )
    }
    result = []
    for projection in followers.registered():
        state = active_state(projection.name)
        rebuild = rebuilds.get(projection.name)
        behind = backlog(state.checkpoint)
        lag_seconds = (
            (now - behind.oldest_recorded_at).total_seconds() if behind.oldest_recorded_at else 0.0
        )
        stopped_rebuild = rebuild if rebuild is not None and _stopped(rebuild) else None
        result.append(
            {
                "name": projection.name,
                "position": state.position,
                "head_position": head,
                "lag_events": behind.events,
                "lag_seconds": round(max(lag_seconds, 0.0), 3),
                "status": _status(state, behind.events, now, rebuild),
                "last_error": state.last_error
                or (stopped_rebuild.last_error if stopped_rebuild else None),
                "updated_at": state.updated_at,
            }
        )
    return result


def _stopped(rebuild: ProjectionState) -> bool:
    """A rebuild stopped at a failing event: nothing moves it until an operator acts."""
    return rebuild.status == ProjectionStatus.FAILED or rebuild.error_position is not None


def _status(
    state: ProjectionState, lag: int, now: datetime, rebuild: ProjectionState | None
) -> str:
    if state.status == ProjectionStatus.FAILED or (rebuild is not None and _stopped(rebuild)):
        return "failed"
    if rebuild is not None:
        return "rebuilding"
    quiet = (now - state.updated_at).total_seconds()
    if state.attempts or (lag and quiet > settings.PROJECTION_STALLED_SECONDS):
        return "stalled"
    return "running"


# --- followers that are not projections (provided ones: webhooks, subscribers) ------------
# Their owners know what their status means (a webhook's "failing", a subscriber's "failed")
# and report their rows here, so that operators' tools list them without the engine (or the
# read side) knowing them: each row has name, kind, position, head_position, lag_events,
# lag_seconds, status and last_error.
Reporter = Callable[[], list[dict[str, Any]]]
_reporters: list[Reporter] = []


def register_reporter(reporter: Reporter) -> Reporter:
    if reporter not in _reporters:
        _reporters.append(reporter)
    return reporter


def other_followers_status_list() -> list[dict[str, Any]]:
    """The rows every registered reporter gives (webhooks, Python subscribers)."""
    return [row for reporter in _reporters for row in reporter()]
