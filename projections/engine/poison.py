"""Poison events: find the event a batch fails on, back off, stop as `failed`, and the
operator's way out (retry it, or skip it with who, when and why). Nothing is skipped silently,
and a skip goes with the log it belongs to (exported and imported with it).
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import database_unavailable, fetch
from eventstore.exports import Record, RecordKind
from eventstore.models import Event
from eventstore.store import RecordedEvent
from projections.engine import followers as base
from projections.engine import leases
from projections.engine.backends.base import ANY_SKIP
from projections.engine.leases import Lease, LeaseLost
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus
from projections.engine.strategies import read_events

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS: Final = 60.0


class ProjectionError(Exception):
    """An operator action that does not apply to the projection's state, or a rebuild that
    stopped at a failing event."""


def isolate(
    state: ProjectionState,
    lease: Lease,
    events: Sequence[RecordedEvent],
    apply_one: Callable[[RecordedEvent], bool],
) -> int:
    """Apply the events of a failed batch one at a time (each in its own batch), so the ones
    before the failing event are applied and it is pinpointed; record its failure and stop
    there. ``apply_one`` says False when the follower asked to stop (it did not consume the
    event). Returns how many were applied. A database that cannot serve (down, hung,
    read-only) is no failure of the event: that error is raised, and nothing is recorded."""
    for applied, event in enumerate(events):
        try:
            if not apply_one(event):
                return applied
        except LeaseLost:
            return applied
        except Exception as exc:
            if database_unavailable(exc):
                raise  # not the event's fault: the next catch-up tries it again
            record_failure(state, lease, event, exc)
            return applied
    return len(events)


def record_failure(
    state: ProjectionState, lease: Lease, event: RecordedEvent, exc: Exception
) -> None:
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
    # Only under the lease the event was tried under: a worker that lost it records nothing.
    recorded = ProjectionState.objects.filter(
        pk=state.pk, owner=lease.owner, fencing=lease.fencing
    ).update(
        attempts=state.attempts,
        error_position=state.error_position,
        last_error=state.last_error,
        retry_at=state.retry_at,
        status=state.status,
        updated_at=timezone.now(),
    )
    if not recorded:
        return
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
    # A failed cursor is claimed by no catch-up: the lease is this skip's at once, unless a
    # worker is still in the turn that failed (then it lets go at that turn's end).
    with (
        leases.holding(state, wait=settings.PROJECTION_LEASE_SECONDS, any_status=True) as turn,
        transaction.atomic(),
    ):
        if turn.lease is None:
            raise ProjectionError(f"{name} is being applied by another worker; try again.")
        events = read_events(base.get(name), state, state.checkpoint, 1)
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
        leases.advance(state, turn.lease, event.checkpoint, applied=0)
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


# --- skips travel with the log (eventstore_export / eventstore_import) -----------------------
SKIP_FIELDS: Final = (
    "name",
    "generation",
    "position",
    "event_id",
    "event_type",
    "error",
    "reason",
    "actor",
    "skipped_at",
)


def exported_skips(stream_id: str | None) -> Iterator[Record]:
    """Every recorded skip (of ``stream_id``'s events only, if given), oldest first, so that a
    log imported elsewhere steps over the same events instead of failing on them again."""
    skips = ProjectionSkip.objects.order_by("skipped_at", "id")
    if stream_id is not None:
        positions = Event.objects.filter(stream_id=stream_id).values("global_position")
        skips = skips.filter(position__in=positions)
    for row in skips.values(*SKIP_FIELDS):
        yield {**row, "event_id": str(row["event_id"]), "skipped_at": row["skipped_at"].isoformat()}


def restore_skips(records: Sequence[Record]) -> int:
    """Record the exported ``records`` again, after their log is imported: each must name an
    event of it (position and id), else ValueError and none is recorded."""
    wanted = {int(r["position"]) for r in records}
    events = dict(
        Event.objects.filter(global_position__in=wanted).values_list("global_position", "event_id")
    )
    with transaction.atomic():
        for record in records:
            position, event_id = int(record["position"]), uuid.UUID(str(record["event_id"]))
            if events.get(position) != event_id:
                raise ValueError(
                    f"the skip of {record['name']} names event {event_id} at position "
                    f"{position}, which the imported log does not have there"
                )
            fields: dict[str, Any] = {f: record[f] for f in SKIP_FIELDS}
            fields |= {"position": position, "event_id": event_id}
            skipped_at = datetime.fromisoformat(fields.pop("skipped_at"))
            skip = ProjectionSkip.objects.create(**fields)
            # skipped_at is set on creation (auto_now_add): keep when it really happened.
            ProjectionSkip.objects.filter(pk=skip.pk).update(skipped_at=skipped_at)
    return len(records)


SKIPS: Final = RecordKind(
    name="projection_skip", fields=SKIP_FIELDS, export=exported_skips, restore=restore_skips
)
