"""Follower bookkeeping: each (name, generation, shard)'s checkpoint, lease and health, and the
audited skips."""

from __future__ import annotations

from django.db import models

from eventstore.store import Checkpoint


class ProjectionStatus(models.TextChoices):
    RUNNING = "running"
    FAILED = "failed"
    REBUILDING = "rebuilding"
    # Replaced by a rebuild; its rows are kept a little while for queries already reading them.
    RETIRED = "retired"


class ProjectionState(models.Model):
    """One follower's cursor over the log: a (name, generation, shard)'s checkpoint, lease and
    health. Exactly one generation of each (name, shard) is active."""

    name = models.CharField(max_length=100)
    generation = models.PositiveIntegerField(default=1)
    shard = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=ProjectionStatus.choices, default=ProjectionStatus.RUNNING
    )
    # Checkpoint: every event at or before (tx_id, position) has been applied.
    tx_id = models.BigIntegerField(default=0)
    position = models.BigIntegerField(default=0)
    events_applied = models.BigIntegerField(default=0)
    # Poison handling: the event that keeps failing, how often, and when to try again.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    error_position = models.BigIntegerField(null=True, blank=True)
    # Not run before this (a poison event's backoff, or one a follower asked for).
    retry_at = models.DateTimeField(null=True, blank=True)
    # The lease (projections.engine.leases): who applies batches, until when unless renewed,
    # and the fencing token each claim increments and each batch's commit checks.
    owner = models.CharField(max_length=200, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    fencing = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name", "generation", "shard"], name="projection_generation_shard"
            ),
            models.UniqueConstraint(
                fields=["name", "shard"],
                condition=models.Q(active=True),
                name="projection_shard_one_active",
            ),
        ]
        ordering = ["name", "generation"]
        verbose_name = "projection"
        # Rebuild, retry and skip from the back office (the group projection-operators).
        permissions = [("operate_projections", "Can rebuild, retry and skip projections")]

    def __str__(self) -> str:
        shard = f", shard {self.shard}" if self.shard else ""
        return f"{self.name} (generation {self.generation}{shard}, {self.status})"

    @property
    def checkpoint(self) -> Checkpoint:
        """Where in the log this generation stands: every event up to here is applied."""
        return Checkpoint(self.tx_id, self.position)


class ProjectionSkip(models.Model):
    """An event an operator chose to skip, with who, when and why. Nothing is skipped silently."""

    name = models.CharField(max_length=100)
    generation = models.PositiveIntegerField()
    position = models.BigIntegerField()
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    error = models.TextField(blank=True, default="")
    reason = models.TextField()
    actor = models.CharField(max_length=150)
    skipped_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-skipped_at"]

    def __str__(self) -> str:
        return f"{self.name}: skipped #{self.position} by {self.actor}"
