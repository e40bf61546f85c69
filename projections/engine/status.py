"""Where each projection stands: position, head, lag in events and seconds, and status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from eventstore.store import backlog, head_position
from projections.engine import base
from projections.engine.generations import active_state
from projections.engine.models import ProjectionState, ProjectionStatus


def projection_status_list() -> list[dict[str, Any]]:
    head = head_position()
    now = timezone.now()
    rebuilding = set(
        ProjectionState.objects.filter(active=False)
        .exclude(status=ProjectionStatus.RETIRED)
        .values_list("name", flat=True)
    )
    result = []
    for projection in base.all_projections():
        state = active_state(projection.name)
        behind = backlog(state.checkpoint)
        lag_seconds = (
            (now - behind.oldest_recorded_at).total_seconds() if behind.oldest_recorded_at else 0.0
        )
        result.append(
            {
                "name": projection.name,
                "position": state.position,
                "head_position": head,
                "lag_events": behind.events,
                "lag_seconds": round(max(lag_seconds, 0.0), 3),
                "status": _status(state, behind.events, now, projection.name in rebuilding),
                "last_error": state.last_error or None,
                "updated_at": state.updated_at,
            }
        )
    return result


def _status(state: ProjectionState, lag: int, now: datetime, rebuilding: bool) -> str:
    if state.status == ProjectionStatus.FAILED:
        return "failed"
    if rebuilding:
        return "rebuilding"
    quiet = (now - state.updated_at).total_seconds()
    if state.attempts or (lag and quiet > settings.PROJECTION_STALLED_SECONDS):
        return "stalled"
    return "running"
