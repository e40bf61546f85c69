"""App configuration for the event store."""

from django.apps import AppConfig


class EventStoreConfig(AppConfig):
    name = "eventstore"
    verbose_name = "Event store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from eventstore.exports import register_record_kind
        from eventstore.store import FORGOTTEN_SUBJECTS

        register_record_kind(FORGOTTEN_SUBJECTS)  # forgotten subjects travel with the log
