"""Where each projection stands: position, head, lag in events and seconds, and status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from django.conf import settings
from django.utils import timezone

from eventstore.store import backlog, head_position
from projections.engine import followers
from projections.engine.followers import log_part, shard_count
from projections.engine.generations import active_state
from projections.engine.models import ProjectionState, ProjectionStatus


def projection_status_list() -> list[dict[str, Any]]:
    """Each projection's standing, and each of its shards' (``shards``, by index): the
    projection's position is its lowest shard's, its lag the sum of theirs, its status the
    worst of theirs."""
    head = head_position()
    now = timezone.now()
    rebuilds: dict[str, ProjectionState] = {}
    for state in ProjectionState.objects.filter(active=False).exclude(
        status=ProjectionStatus.RETIRED
    ):
        if state.name not in rebuilds or _stopped(state):
            rebuilds[state.name] = state
    actives: dict[str, list[ProjectionState]] = {}
    for state in ProjectionState.objects.filter(active=True).order_by("name", "shard"):
        actives.setdefault(state.name, []).append(state)
    result = []
    for projection in followers.registered():
        states = actives.get(projection.name) or [active_state(projection.name)]
        rebuild = rebuilds.get(projection.name)
        shards: list[dict[str, Any]] = []
        oldest = None
        for state in states:
            shard = None if state.shards <= 1 else log_part(projection, state.shard, state.shards)
            behind = (
                backlog(state.checkpoint)
                if shard is None
                else backlog(state.checkpoint, shard=shard)
            )
            if behind.oldest_recorded_at is not None:
                oldest = min(oldest or behind.oldest_recorded_at, behind.oldest_recorded_at)
            shards.append(
                {
                    "index": state.shard,
                    "position": state.position,
                    "lag_events": behind.events,
                    "status": _status(state, behind.events, now, rebuild),
                    "owner": state.owner if _leased(state, now) else "",
                }
            )
        lowest = min(states, key=lambda s: s.position)
        stopped_rebuild = rebuild if rebuild is not None and _stopped(rebuild) else None
        lag_seconds = (now - oldest).total_seconds() if oldest else 0.0
        failing = next((s for s in states if s.last_error), None)
        result.append(
            {
                "name": projection.name,
                "position": lowest.position,
                "head_position": head,
                "lag_events": sum(shard["lag_events"] for shard in shards),
                "lag_seconds": round(max(lag_seconds, 0.0), 3),
                "status": _worst([shard["status"] for shard in shards]),
                "last_error": (failing.last_error if failing else "")
                or (stopped_rebuild.last_error if stopped_rebuild else None),
                "updated_at": max(s.updated_at for s in states),
                "shards": shards,
                "configured_shards": shard_count(projection),
            }
        )
    return result


_SEVERITY: Final = ("running", "rebuilding", "stalled", "failed")


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=_SEVERITY.index)


def _leased(state: ProjectionState, now: datetime) -> bool:
    return bool(state.owner) and state.lease_until is not None and state.lease_until > now


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
