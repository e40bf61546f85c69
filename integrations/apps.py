"""App configuration of the integrations: webhooks and Python subscribers, followers of the
log run by the engine (projections.engine) on the Celery queue ``integrations``."""

from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models.signals import post_migrate


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Webhooks and subscribers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations import shipping_emails  # noqa: F401 - registers the subscriber
        from integrations.followers import QUEUE, subscriber_followers, webhook_followers
        from integrations.status import status_rows
        from projections.engine.followers import register_provider
        from projections.engine.status import register_reporter

        register_provider(webhook_followers, queues=(QUEUE,))
        register_provider(subscriber_followers, queues=(QUEUE,))
        register_reporter(status_rows)
        post_migrate.connect(start_subscribers, sender=self)


def start_subscribers(using: str = DEFAULT_DB_ALIAS, **signal: Any) -> None:
    """``post_migrate``: a subscriber new to this database starts at the log's current end (a
    new e-mail subscriber does not mail every order shipped in the past)."""
    from eventstore.store import checkpoint_now
    from integrations.subscribers import all_subscribers
    from projections.engine import generations
    from projections.engine.models import ProjectionState

    if using != DEFAULT_DB_ALIAS:
        return
    if ProjectionState._meta.db_table not in connection.introspection.table_names():
        return
    for subscriber in all_subscribers():
        generations.create_first_generation(subscriber.name, start=checkpoint_now())
