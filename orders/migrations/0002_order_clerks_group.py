"""Create the permission to issue order commands and the group order-clerks holding it."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(
        app_label="orders", model="idempotencyrecord"
    )
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="issue_order_commands",
        defaults={"name": "Can issue order commands"},
    )
    group, _ = Group.objects.get_or_create(name="order-clerks")
    group.permissions.add(permission)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("auth", "Group").objects.filter(name="order-clerks").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forward, backward)]
