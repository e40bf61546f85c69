"""The roles see webhooks, deliveries and subscribers; operators manage webhooks (backoffice.roles)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from backoffice.roles import ensure_roles


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    ensure_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_staff_roles"),
        ("integrations", "0002_subscriberstate"),
    ]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
