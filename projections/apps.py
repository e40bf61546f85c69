"""App configuration of the read side: the projection engine and the order read models."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProjectionsConfig(AppConfig):
    name = "projections"
    verbose_name = "Projections and read models"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common.dispatch import command_committed
        from common.waits import set_read_models_wait
        from eventstore.exports import register_record_kind
        from projections.engine import (
            followers,
            tasks,  # noqa: F401 - registers the catch-up task
        )
        from projections.engine.consistency import wait_until_applied
        from projections.engine.generations import create_first_generations
        from projections.engine.poison import SKIPS
        from projections.engine.sharding import check_configuration
        from projections.engine.wakeups import wake_projections
        from projections.read_models.registry import register_all

        register_all()
        check_configuration()  # a bad PROJECTION_SHARDS stops start-up with its reason
        # A command's commit wakes the projections (orders knows nothing of them), and a
        # forget waits for them through common.waits.
        command_committed.connect(wake_projections)
        set_read_models_wait(
            lambda position, timeout: wait_until_applied(
                [f.name for f in followers.registered()], position, timeout
            )
        )
        register_record_kind(SKIPS)  # skips are exported and imported with the log
        # Every registered projection has its generation 1 once the database is migrated.
        post_migrate.connect(create_first_generations, sender=self)
