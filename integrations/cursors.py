"""Each webhook's and subscriber's place in the log: its follower's cursor, kept by the engine
(projections.engine: ProjectionState rows named ``webhook:<id>`` or after the subscriber)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from eventstore.store import Checkpoint, backlog, checkpoint_now
from integrations.followers import follower_name
from integrations.models import Webhook
from projections.engine import generations
from projections.engine.models import ProjectionSkip, ProjectionState, ProjectionStatus
from projections.engine.wakeups import wake_projections


@dataclass(frozen=True)
class Place:
    """Where a follower stands: its position, the events after it, how old the oldest of them
    is, and its cursor's own health (the engine's)."""

    position: int
    lag_events: int
    lag_seconds: float
    failed: bool
    last_error: str
    error_position: int | None
    updated_at: datetime | None


def start(webhook: Webhook) -> None:
    """Give a new webhook its cursor at the log's current end: it gets what is committed
    from now on (in the caller's transaction, with the row)."""
    generations.create_first_generation(follower_name(webhook.id), start=checkpoint_now())


def forget(webhook: Webhook) -> None:
    """A deleted webhook's cursor goes with it (in the caller's transaction)."""
    name = follower_name(webhook.id)
    ProjectionState.objects.filter(name=name).delete()
    ProjectionSkip.objects.filter(name=name).delete()


def resume(webhook: Webhook) -> None:
    """An enabled webhook runs at once: no wait left from its backoff, a worker woken."""
    ProjectionState.objects.filter(name=follower_name(webhook.id)).update(retry_at=None)
    transaction.on_commit(wake_projections)


def place(name: str) -> Place:
    """Where the follower ``name`` stands (at the log's start if it has not run yet)."""
    state = ProjectionState.objects.filter(name=name, active=True).order_by("shard").first()
    at = state.checkpoint if state is not None else Checkpoint()
    behind = backlog(at)
    oldest = behind.oldest_recorded_at
    lag_seconds = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
    return Place(
        position=at.position,
        lag_events=behind.events,
        lag_seconds=round(lag_seconds, 3),
        failed=state is not None and state.status == ProjectionStatus.FAILED,
        last_error=state.last_error if state is not None else "",
        error_position=state.error_position if state is not None else None,
        updated_at=state.updated_at if state is not None else None,
    )


def places(webhooks: Iterable[Webhook]) -> dict[Any, Place]:
    return {webhook.id: place(follower_name(webhook.id)) for webhook in webhooks}
