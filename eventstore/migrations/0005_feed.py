"""The feed (GET /api/events): the log's identity its cursors are signed with, the permission
eventstore.read_events and the group integrations holding it (as orders 0002 does for
order-clerks)."""

import uuid

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("eventstore", "LogIdentity").objects.get_or_create(id=1)
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="eventstore", model="event")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="read_events",
        defaults={"name": "Can read the event log through the feed"},
    )
    group, _ = Group.objects.get_or_create(name="integrations")
    group.permissions.add(permission)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="eventstore", codename="read_events").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("eventstore", "0004_admin_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="LogIdentity",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("value", models.UUIDField(default=uuid.uuid4, editable=False)),
            ],
            options={"db_table": "eventstore_log_identity"},
        ),
        migrations.AlterModelOptions(
            name="event",
            options={
                "ordering": ["global_position"],
                "permissions": [("read_events", "Can read the event log through the feed")],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
