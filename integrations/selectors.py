"""Reads of the webhooks: as the API shows them (with their place in the log), and their
deliveries, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from integrations import cursors
from integrations.models import Delivery, Webhook
from integrations.services import WebhookError


@dataclass(frozen=True)
class WebhookShown:
    """The contract's ``Webhook``: the row without its secret, with its follower's place."""

    id: Any
    url: str
    event_types: list[str]
    description: str
    status: str
    position: int
    lag_events: int
    last_error: str
    last_delivery_at: datetime | None
    created_at: datetime


def _shown(webhook: Webhook, place: cursors.Place) -> WebhookShown:
    return WebhookShown(
        id=webhook.id,
        url=webhook.url,
        event_types=list(webhook.event_types),
        description=webhook.description,
        status=webhook.status,
        position=place.position,
        lag_events=place.lag_events,
        last_error=webhook.last_error,
        last_delivery_at=webhook.last_delivery_at,
        created_at=webhook.created_at,
    )


def webhook_list() -> list[WebhookShown]:
    webhooks = list(Webhook.objects.order_by("created_at", "id"))
    places = cursors.places(webhooks)
    return [_shown(webhook, places[webhook.id]) for webhook in webhooks]


def webhook_get(webhook_id: Any) -> WebhookShown:
    webhook = Webhook.objects.filter(pk=webhook_id).first()
    if webhook is None:
        raise WebhookError("No such webhook.")
    return _shown(webhook, cursors.places([webhook])[webhook.id])


def delivery_list(*, webhook_id: Any) -> QuerySet[Delivery]:
    """The webhook's delivery attempts, newest first (WebhookError if there is no webhook)."""
    if not Webhook.objects.filter(pk=webhook_id).exists():
        raise WebhookError("No such webhook.")
    return Delivery.objects.filter(webhook_id=webhook_id).order_by("-delivered_at", "-id")
