"""App configuration of the read side: the projection engine and the order read models."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProjectionsConfig(AppConfig):
    name = "projections"
    verbose_name = "Projections and read models"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common.dispatch import command_committed
        from eventstore.exports import register_record_kind
        from projections.engine import tasks  # noqa: F401 - registers the catch-up task
        from projections.engine.generations import create_first_generations
        from projections.engine.poison import SKIPS
        from projections.engine.sharding import check_configuration
        from projections.engine.wakeups import wake_projections
        from projections.read_models.registry import register_all

        register_all()
        check_configuration()  # a bad PROJECTION_SHARDS stops start-up with its reason
        # A command's commit wakes the projections (orders knows nothing of them).
        command_committed.connect(wake_projections)
        register_record_kind(SKIPS)  # skips are exported and imported with the log
        # Every registered projection has its generation 1 once the database is migrated.
        post_migrate.connect(create_first_generations, sender=self)
