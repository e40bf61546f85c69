"""App configuration for the order domain and its command API."""

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from eventstore.store import on_subject_forgotten
        from orders import upcasters
        from orders.repository import register_personal_data

        upcasters.register()
        register_personal_data()
        # A forgotten customer's order snapshots go with the key (they hold no address: a
        # belt to those braces).
        on_subject_forgotten(_forget_snapshots)


def _forget_snapshots(customer_id: str) -> None:
    from orders import snapshots

    snapshots.delete_snapshots_of_customer(customer_id)
