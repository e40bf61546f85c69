"""The staff roles as groups: order-clerks, support, projection-operators (backoffice.roles)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from backoffice.roles import ensure_roles


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    ensure_roles(apps)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # order-clerks and projection-operators came before this migration (orders 0002,
    # projections 0006); only the group it made goes.
    apps.get_model("auth", "Group").objects.filter(name="support").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_api_token"),
        ("orders", "0002_order_clerks_group"),
        ("projections", "0006_projection_operators_group"),
        ("eventstore", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forward, backward)]
