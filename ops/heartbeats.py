"""Workers' heartbeats: each Celery worker records when it last started a task.

Beat sends a catch-up every few seconds (settings.CELERY_BEAT_SCHEDULE), so a worker that
consumes its queue starts a task at least that often; a row that stops moving means no worker
takes tasks (none runs, none reaches the broker or the database) or beat is not sending them.
/metrics exports the age of each row (``orders_worker_last_task_age_seconds``) and
ops/alerts.yml turns "none younger than a minute" into an alert. A worker process writes at
most once every HEARTBEAT_EVERY_SECONDS: the catch-up is sent on every commit.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Final

from celery import signals
from django.db import DatabaseError
from django.utils import timezone

from ops.models import WorkerHeartbeat

HEARTBEAT_EVERY_SECONDS: Final = 5.0
# Rows of workers not seen for this long are deleted (host names change with every deploy).
FORGET_AFTER: Final = timedelta(days=7)

_last_written: dict[str, float] = {}  # worker -> time.monotonic() of this process's last write


def record_task_starts() -> None:
    """Connect the heartbeat to every task a worker of this process starts."""
    signals.task_prerun.connect(_task_started, weak=False)


def _task_started(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    worker = getattr(request, "hostname", None)
    if not worker or getattr(request, "is_eager", False):
        return  # eager: the task runs inside a web request, there is no worker to speak of
    beat(str(worker))


def beat(worker: str) -> None:
    """Record that ``worker`` is at work now, unless this process did so a moment ago."""
    now = time.monotonic()
    last = _last_written.get(worker)
    if last is not None and now - last < HEARTBEAT_EVERY_SECONDS:
        return
    try:
        WorkerHeartbeat.objects.bulk_create(
            [WorkerHeartbeat(worker=worker, seen_at=timezone.now())],
            update_conflicts=True,
            unique_fields=["worker"],
            update_fields=["seen_at"],
        )
        if last is None:
            WorkerHeartbeat.objects.filter(seen_at__lt=timezone.now() - FORGET_AFTER).delete()
    except DatabaseError:
        # The task about to run needs the database too; its failure is what gets logged.
        return
    _last_written[worker] = now
