"""The permission to rebuild, retry and skip projections, and the group projection-operators
holding it (as orders 0002 does for order-clerks)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(
        app_label="projections", model="projectionstate"
    )
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="operate_projections",
        defaults={"name": "Can rebuild, retry and skip projections"},
    )
    group, _ = Group.objects.get_or_create(name="projection-operators")
    group.permissions.add(permission)
    # Operators see what they repair: the projections, their skips and the log.
    for app_label, model in (
        ("projections", "projectionstate"),
        ("projections", "projectionskip"),
        ("eventstore", "event"),
    ):
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        view, _ = Permission.objects.get_or_create(
            content_type=content_type,
            codename=f"view_{model}",
            defaults={"name": f"Can view {model}"},
        )
        group.permissions.add(view)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("auth", "Group").objects.filter(name="projection-operators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("projections", "0005_partition_read_models_by_generation"),
        ("eventstore", "0003_drop_unused_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [
        migrations.AlterModelOptions(
            name="projectionstate",
            options={
                "ordering": ["name", "generation"],
                "verbose_name": "projection",
                "permissions": [("operate_projections", "Can rebuild, retry and skip projections")],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
