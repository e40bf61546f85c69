"""Poison events: find the event a batch fails on, back off, stop as `failed`, and the
operator's way out (retry it, or skip it with who, when and why). Nothing is skipped silently.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Final

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import database_unavailable, fetch
from eventstore.store import RecordedEvent, read_all
from projections.engine import base
from projections.engine.backends.base import ANY_SKIP
from projections.engine.checkpoints import CheckpointMoved, advance, projection_lock, reload
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS: Final = 60.0


class ProjectionError(Exception):
    """An operator action that does not apply to the projection's state, or a rebuild that
    stopped at a failing event."""


def isolate(
    state: ProjectionState,
    events: Sequence[RecordedEvent],
    apply_one: Callable[[RecordedEvent], None],
) -> int:
    """Apply the events of a failed batch one at a time (each in its own batch), so the ones
    before the failing event are applied and it is pinpointed; record its failure and stop
    there. Returns how many were applied. A database that cannot serve (down, hung, read-only)
    is no failure of the event: that error is raised, and nothing is recorded."""
    for applied, event in enumerate(events):
        try:
            apply_one(event)
        except CheckpointMoved:
            reload(state)
            return applied
        except Exception as exc:
            if database_unavailable(exc):
                raise  # not the event's fault: the next catch-up tries it again
            record_failure(state, event, exc)
            return applied
    return len(events)


def record_failure(state: ProjectionState, event: RecordedEvent, exc: Exception) -> None:
    """Count a failure on ``event``: back off (1 s, 2 s, ... up to a minute), and after
    PROJECTION_MAX_ATTEMPTS stop the generation as failed until an operator acts."""
    attempts = state.attempts + 1 if state.error_position == event.global_position else 1
    failed = attempts >= settings.PROJECTION_MAX_ATTEMPTS
    backoff = min(
        settings.PROJECTION_RETRY_BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS
    )
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    state.attempts = attempts
    state.error_position = event.global_position
    state.last_error = f"{event.event_type} at position {event.global_position}: {error}"[:4000]
    state.retry_at = None if failed else timezone.now() + timedelta(seconds=backoff)
    if failed:
        state.status = ProjectionStatus.FAILED
    state.save(
        update_fields=[
            "attempts",
            "error_position",
            "last_error",
            "retry_at",
            "status",
            "updated_at",
        ]
    )
    log = logger.error if failed else logger.warning
    log(
        "projection %s failed on %s (attempt %s): %s",
        state.name,
        event.global_position,
        attempts,
        error,
    )


def recorded_skips(name: str) -> dict[int, ProjectionSkip]:
    """The events operators skipped in any generation of ``name``, by log position.

    A skip holds for every generation: one that reaches the event later (a rebuild) steps over
    it as the skipped generation did, so a rebuild neither stops there again nor differs from
    the generation it replaces.
    """
    # Asked at every turn of a catch-up, and there are hardly ever any: a prepared statement
    # says whether to ask the ORM (which costs ~0.3 ms of CPU even for no rows).
    if not fetch(ANY_SKIP, [name]):
        return {}
    return {skip.position: skip for skip in ProjectionSkip.objects.filter(name=name)}


# --- operator actions (the admin and the management commands call these) --------------------
def retry(name: str) -> ProjectionState:
    """Clear a failure (or a pending backoff) so the next run tries the event again."""
    state = _failing_state(name)
    state.status = _working_status(state)
    state.attempts = 0
    state.retry_at = None
    state.save(update_fields=["status", "attempts", "retry_at", "updated_at"])
    return state


def skip(name: str, *, reason: str, actor: str) -> ProjectionSkip:
    """Step over the event the projection is stuck on, recording who skipped it and why."""
    if not reason.strip():
        raise ProjectionError("A skip needs a reason.")
    state = _failing_state(name)
    with projection_lock(name, state.generation, wait=True), transaction.atomic():
        state.refresh_from_db()
        events = read_all(state.checkpoint, limit=1)
        if not events or events[0].global_position != state.error_position:
            raise ProjectionError(
                f"{name} is not stopped at event {state.error_position}; nothing skipped."
            )
        event = events[0]
        record = ProjectionSkip.objects.create(
            name=name,
            generation=state.generation,
            position=event.global_position,
            event_id=event.event_id,
            event_type=event.event_type,
            error=state.last_error,
            reason=reason,
            actor=actor,
        )
        advance(state, event.checkpoint, applied=0)
        ProjectionState.objects.filter(pk=state.pk).update(status=_working_status(state))
    return record


def _working_status(state: ProjectionState) -> ProjectionStatus:
    return ProjectionStatus.RUNNING if state.active else ProjectionStatus.REBUILDING


def _failing_state(name: str) -> ProjectionState:
    base.get(name)
    state = (
        ProjectionState.objects.filter(name=name, error_position__isnull=False)
        .exclude(status=ProjectionStatus.RETIRED)
        .order_by("-generation")
        .first()
    )
    if state is None:
        raise ProjectionError(f"{name} has no failed event to retry or skip.")
    return state
