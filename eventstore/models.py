"""The event log table (only eventstore.store writes it; PostgreSQL refuses UPDATE/DELETE), and
the log's identity, which the feed's cursors are signed with."""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

# An event's correlation id as text (indexed below): a plain text expression, so that equality
# is text equality on every database (a JSON key lookup compares JSON values).
CORRELATION_ID = Cast(KeyTextTransform("correlation_id", "metadata"), models.TextField())


class Event(models.Model):
    # On PostgreSQL the table also has tx_id xid8 (the writing transaction, filled by default),
    # added by migration 0002 and read only through raw SQL in eventstore.store.
    global_position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    stream_id = models.CharField(max_length=255)
    stream_type = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    event_type = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    metadata = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    recorded_at = models.DateTimeField()

    class Meta:
        db_table = "eventstore_event"
        ordering = ["global_position"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream_id", "version"], name="eventstore_stream_version"
            )
        ]
        # Every index costs each append. Streams are read by (stream_id, version) and the log
        # by (tx_id, global_position), added in 0002. The back office's filters and searches
        # need these three; their cost is measured in docs/benchmarks.md ("Back office
        # indexes").
        indexes = [
            models.Index(fields=["event_type", "global_position"], name="eventstore_event_type"),
            models.Index(fields=["stream_type", "global_position"], name="eventstore_stream_type"),
            models.Index(CORRELATION_ID, name="eventstore_correlation"),
        ]
        # Other systems follow the log through GET /api/events (group integrations).
        permissions = [("read_events", "Can read the event log through the feed")]

    def __str__(self) -> str:
        return f"#{self.global_position} {self.stream_id} v{self.version} {self.event_type}"


class LogIdentity(models.Model):
    """One row: a random id for this database's log, made with it (migration 0005).

    The feed signs its cursors with it, so a cursor from another database (a cursor's
    (tx_id, position) means nothing there) is refused rather than followed.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.UUIDField(default=uuid.uuid4, editable=False)

    class Meta:
        db_table = "eventstore_log_identity"

    def __str__(self) -> str:
        return str(self.value)


class PersonalKey(models.Model):
    """A data subject's key (eventstore.personal): the only place it lives. Forgetting the
    subject deletes the key (``key`` NULL) and keeps the row: when, and the position of the
    event recording it, so a second forget answers the first's."""

    subject_id = models.CharField(max_length=255, primary_key=True)
    key = models.BinaryField(null=True)
    created_at = models.DateTimeField()
    forgotten_at = models.DateTimeField(null=True)
    forgotten_position = models.BigIntegerField(null=True)
    # The forget record's transaction (its event's tx_id, as a number): with the position, its
    # checkpoint. Shards that read forget records (Shard.forgets) find them by this index.
    forgotten_tx = models.BigIntegerField(null=True)

    class Meta:
        db_table = "eventstore_personal_key"
        indexes = [
            models.Index(
                fields=["forgotten_tx", "forgotten_position"],
                name="eventstore_forget_records",
                condition=models.Q(forgotten_tx__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} ({'forgotten' if self.forgotten_at else 'kept'})"
