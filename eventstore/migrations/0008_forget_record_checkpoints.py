"""Each forget record's checkpoint kept with its subject (PersonalKey.forgotten_tx), indexed:
shards that read the forget records wherever their stream is (Shard.forgets) find them there."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def backfill(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite reads the log as one shard: tx_id is 0 there, nothing to find
    schema_editor.execute(
        "UPDATE eventstore_personal_key AS k SET forgotten_tx = e.tx_id::text::bigint "
        "FROM eventstore_event AS e "
        "WHERE e.global_position = k.forgotten_position AND k.forgotten_tx IS NULL"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("eventstore", "0007_personal_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="personalkey",
            name="forgotten_tx",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddIndex(
            model_name="personalkey",
            index=models.Index(
                condition=models.Q(("forgotten_tx__isnull", False)),
                fields=["forgotten_tx", "forgotten_position"],
                name="eventstore_forget_records",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
