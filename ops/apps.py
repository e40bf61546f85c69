"""The ops app: ties Celery tasks' log lines to the task they belong to."""

from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import logs

        logs.bind_celery_tasks()
