"""App configuration of the integrations: webhooks and Python subscribers."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Webhooks and subscribers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations import shipping_emails  # noqa: F401 - registers the subscriber
