"""App configuration for the projection runner, the read models and the query API."""

from django.apps import AppConfig


class ProjectionsConfig(AppConfig):
    name = "projections"
    verbose_name = "Projections and read models"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from projections import tasks  # noqa: F401 - registers the catch-up task
        from projections.read_models import register_all

        register_all()
