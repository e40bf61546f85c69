"""Support receives customers' requests to be forgotten: the role gets orders.forget_customers
(backoffice.roles)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from backoffice.roles import ensure_roles


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    ensure_roles(apps)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    forget = Permission.objects.filter(
        content_type__app_label="orders", codename="forget_customers"
    )
    for group in Group.objects.filter(name="support"):
        group.permissions.remove(*forget)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0003_integrations_roles"),
        ("orders", "0006_forget_customers_permission"),
    ]
    operations = [migrations.RunPython(forward, backward)]
