"""What the ops app keeps in the database: when each Celery worker was last seen at work."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """When a Celery worker last started a task (ops.heartbeats writes it; /metrics reads it).

    Kept in the database, not in a process: whichever web instance is scraped tells the same,
    and a worker that is gone simply stops moving its row.
    """

    # The worker's node name (celery@host).
    worker = models.CharField(max_length=255, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
