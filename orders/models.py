"""Write-side bookkeeping: idempotency records. Orders themselves live only in the event log."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

KEY_CONSTRAINT = "orders_idempotency_actor_key"  # one record per user and key


class IdempotencyRecord(models.Model):
    """The first response to a command sent with an Idempotency-Key, per user."""

    actor = models.CharField(max_length=150)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    # The first answer's body: {"order_id", "version", "position"}.
    response = models.JSONField(encoder=DjangoJSONEncoder)
    # No index: the hourly expiry can afford a scan; every command would pay for an index.
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["actor", "key"], name=KEY_CONSTRAINT)]
        # The permissions a user needs to send order commands and to forget a customer (erase
        # their personal data), as the API contract names them.
        permissions = [
            ("issue_order_commands", "Can issue order commands"),
            ("forget_customers", "Can forget customers (erase their personal data)"),
        ]

    def __str__(self) -> str:
        return f"{self.actor}:{self.key}"
