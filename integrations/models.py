"""Webhook endpoints and the record of every delivery attempt made to them."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.db import models

from projections.engine.models import ProjectionState


class WebhookStatus(models.TextChoices):
    ACTIVE = "active"
    # Its last delivery failed: it is being retried with backoff (nothing after it is sent).
    FAILING = "failing"
    # Failing for longer than WEBHOOKS_DISABLE_AFTER: nothing is sent until staff enable it.
    DISABLED = "disabled"


class Webhook(models.Model):
    """An endpoint that receives every event (of ``event_types``, or all) in log order.

    Its place in the log is its follower's checkpoint (integrations.followers); the ``secret``
    signs each delivery and is shown once, when the webhook is created.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    # Event types to deliver; empty: every event.
    event_types = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=500, blank=True, default="")
    secret = models.CharField(max_length=100, editable=False)
    status = models.CharField(
        max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.ACTIVE
    )
    failing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        permissions = [("manage_webhooks", "Can manage webhooks")]

    def __str__(self) -> str:
        # Never the secret; of the URL only its host (its path or query may carry a
        # receiver's own token).
        host = urlsplit(self.url).hostname or "?"
        return f"{self.description} ({host})" if self.description else f"webhook to {host}"


class Delivery(models.Model):
    """One attempt to deliver one event to one webhook, with what came of it."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField()
    position = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    # The receiver's HTTP status (None: no answer: refused, timed out, address not allowed).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField()

    class Meta:
        ordering = ["-delivered_at", "-id"]
        indexes = [
            # The deliveries page, newest first.
            models.Index(fields=["webhook", "-delivered_at", "-id"]),
            # Each batch numbers its attempts by the earlier ones of the same events.
            models.Index(fields=["webhook", "event_id"], name="delivery_webhook_event"),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"event {self.event_id} to webhook {self.webhook_id} (attempt {self.attempt})"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class SubscriberState(ProjectionState):
    """A Python subscriber's cursor (the engine's row), as the back office lists it."""

    class Meta:
        proxy = True
        verbose_name = "subscriber"
