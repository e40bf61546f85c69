"""What staff and clients do to webhooks, for the API and the admin alike: create, delete,
enable, deliver again."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from eventstore.models import Event
from eventstore.store import read_stream
from integrations import addresses, cursors, delivery, followers
from integrations.models import Delivery, Webhook, WebhookStatus

logger = logging.getLogger(__name__)


class WebhookError(Exception):
    """An unknown webhook or delivery, or an event no longer to be found."""


@dataclass(frozen=True)
class Created:
    """A new webhook and its secret: the one time the secret is handed out."""

    webhook: Webhook
    secret: str


def webhook_create(*, url: str, event_types: Sequence[str] = (), description: str = "") -> Created:
    """Check the URL (addresses.UrlInvalid, addresses.UrlNotAllowed) and create an active
    webhook; it receives the events committed from now on."""
    addresses.check(url)
    secret = delivery.new_secret()
    with transaction.atomic():
        webhook = Webhook.objects.create(
            url=url, event_types=sorted(set(event_types)), description=description, secret=secret
        )
        cursors.start(webhook)
    logger.info("webhook %s created", webhook.id)
    return Created(webhook, secret)


def webhook_delete(*, webhook_id: uuid.UUID | str) -> None:
    """Delete the webhook, its deliveries and its place in the log."""
    with transaction.atomic():
        webhook = webhook_get(webhook_id, lock=True)
        cursors.forget(webhook)
        webhook.delete()
    logger.info("webhook %s deleted", webhook_id)


def webhook_enable(*, webhook_id: uuid.UUID | str) -> Webhook:
    """Make a failing or disabled webhook active again: it resumes where it stopped, now."""
    with transaction.atomic():
        webhook = webhook_get(webhook_id, lock=True)
        webhook.status = WebhookStatus.ACTIVE
        webhook.failing_since = None
        webhook.save(update_fields=["status", "failing_since"])
        cursors.resume(webhook)
    logger.info("webhook %s enabled", webhook.id)
    return webhook


def delivery_deliver_again(*, delivery_id: int | str) -> Delivery:
    """POST a delivery's event to its webhook once more, now, and record that attempt. The
    webhook's place in the log does not move: a failing event is still retried in turn."""
    try:
        earlier = Delivery.objects.select_related("webhook").get(pk=delivery_id)
    except (Delivery.DoesNotExist, ValueError, TypeError, ValidationError):
        raise WebhookError("No such delivery.") from None
    place = Event.objects.filter(event_id=earlier.event_id).values("stream_id", "version").first()
    if place is None:
        raise WebhookError("The delivery's event is not in the log.")
    version = place["version"]
    event = read_stream(place["stream_id"], from_version=version, to_version=version)[0]
    webhook = earlier.webhook
    with delivery.client() as client:
        attempt = delivery.deliver(client, webhook.url, webhook.secret, event)
    with transaction.atomic():
        row = followers.record(webhook, event.event_id, event.global_position, attempt)
    logger.info("webhook %s: an event delivered again on request", webhook.id)
    return row


def webhook_get(webhook_id: uuid.UUID | str, *, lock: bool = False) -> Webhook:
    rows = Webhook.objects.select_for_update() if lock else Webhook.objects.all()
    try:
        return rows.get(pk=webhook_id)
    except (Webhook.DoesNotExist, ValueError, TypeError, ValidationError):
        raise WebhookError("No such webhook.") from None
