"""The ops app: ties Celery tasks' log lines to the task they belong to, and records that workers
are at work (ops.heartbeats)."""

from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import heartbeats, logs

        logs.bind_celery_tasks()
        heartbeats.record_task_starts()
