"""Write-side bookkeeping: idempotency records. Orders themselves live only in the event log."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

KEY_CONSTRAINT = "orders_idempotency_actor_key"  # one record per user and key


class OrderStateSnapshot(models.Model):
    """The Order aggregate's state after the first ``version`` events of its stream, written
    after a command commits (orders.snapshots); loading folds only the events after it.

    ``state_version`` is Order.state_version when it was taken: snapshots of another are
    ignored. ``state`` holds no personal data: the shipping address is left out and read again
    from the event that set it (``state["address_version"]``), through the event store.
    """

    order_id = models.UUIDField()
    version = models.PositiveIntegerField()
    state_version = models.PositiveSmallIntegerField()
    customer_id = models.CharField(max_length=64)
    state = models.JSONField(encoder=DjangoJSONEncoder)
    recorded_at = models.DateTimeField()  # of the event at ``version`` (state?at= picks by it)
    taken_at = models.DateTimeField()

    class Meta:
        db_table = "orders_snapshot"
        constraints = [
            models.UniqueConstraint(
                fields=["order_id", "state_version", "version"], name="orders_snapshot_version"
            )
        ]
        indexes = [models.Index(fields=["customer_id"], name="orders_snapshot_customer")]

    def __str__(self) -> str:
        return f"{self.order_id} v{self.version}"


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
