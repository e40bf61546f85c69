"""Where each webhook and subscriber stands, for the back office, /metrics, the stale banner
and ``projection_status``: position, lag, status and the last error, one row each."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from eventstore.store import head_position
from integrations.cursors import place
from integrations.followers import follower_name
from integrations.models import Webhook, WebhookStatus
from integrations.subscribers import all_subscribers

WEBHOOK: Final = "webhook"
SUBSCRIBER: Final = "subscriber"


@dataclass(frozen=True)
class FollowerRow:
    """One webhook or subscriber. ``status``: a webhook's own (active, failing, disabled) or
    a subscriber's (running, stalled: retrying a failed event, failed: stopped there until an
    operator retries or skips it); a webhook whose cursor failed (an error of the service's
    own, not the receiver's) is ``failed`` too."""

    name: str
    kind: str
    description: str
    position: int
    head_position: int
    lag_events: int
    lag_seconds: float
    status: str
    last_error: str
    failing_since: datetime | None
    updated_at: datetime | None

    @property
    def in_trouble(self) -> bool:
        return self.status in ("failing", "disabled", "failed", "stalled")


def follower_status_list() -> list[FollowerRow]:
    """Every webhook (in the order made) and every subscriber (by name)."""
    head = head_position()
    rows = []
    for webhook in Webhook.objects.order_by("created_at", "id"):
        name = follower_name(webhook.id)
        at = place(name)
        status = "failed" if at.failed else webhook.status
        rows.append(
            FollowerRow(
                name=name,
                kind=WEBHOOK,
                description=webhook.description or webhook.url,
                position=at.position,
                head_position=head,
                lag_events=at.lag_events,
                lag_seconds=at.lag_seconds,
                status=status,
                last_error=at.last_error if at.failed else webhook.last_error,
                failing_since=webhook.failing_since
                if webhook.status != WebhookStatus.ACTIVE
                else None,
                updated_at=webhook.last_delivery_at or at.updated_at,
            )
        )
    for subscriber in all_subscribers():
        at = place(subscriber.name)
        status = "failed" if at.failed else "stalled" if at.error_position else "running"
        rows.append(
            FollowerRow(
                name=subscriber.name,
                kind=SUBSCRIBER,
                description=", ".join(sorted(subscriber.event_types)),
                position=at.position,
                head_position=head,
                lag_events=at.lag_events,
                lag_seconds=at.lag_seconds,
                status=status,
                last_error=at.last_error,
                failing_since=None,
                updated_at=at.updated_at,
            )
        )
    return rows


def status_rows() -> list[dict[str, Any]]:
    """The rows as the engine's status reporters give them (projection_status lists them)."""
    return [asdict(row) for row in follower_status_list()]
