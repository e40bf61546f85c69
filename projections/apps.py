"""App configuration for the projection runner, the read models and the query API."""

from django.apps import AppConfig


class ProjectionsConfig(AppConfig):
    name = "projections"
    verbose_name = "Projections and read models"
    default_auto_field = "django.db.models.BigAutoField"
