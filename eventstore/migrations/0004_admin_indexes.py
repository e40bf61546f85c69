"""The back office's indexes on the log: by event type, by stream type and by correlation id
(each filter and search on an index), and on PostgreSQL a BRIN index on recorded_at for the
date filter (a few pages for millions of rows: recorded_at grows with the position).

Each costs every append; measured in docs/benchmarks.md ("Back office indexes"). The append
benchmark's raw baseline table has the same ones (bench/common.py raw_event_table_ddl).
"""

import django.db.models.fields.json
import django.db.models.functions
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def brin_forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX eventstore_recorded_at_brin ON eventstore_event USING brin (recorded_at)"
        )


def brin_backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS eventstore_recorded_at_brin")


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0003_drop_unused_indexes")]

    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["event_type", "global_position"], name="eventstore_event_type"
            ),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["stream_type", "global_position"], name="eventstore_stream_type"
            ),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                django.db.models.functions.Cast(
                    django.db.models.fields.json.KeyTextTransform("correlation_id", "metadata"),
                    models.TextField(),
                ),
                name="eventstore_correlation",
            ),
        ),
        migrations.RunPython(brin_forward, brin_backward),
    ]
