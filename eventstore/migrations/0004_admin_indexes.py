"""The back office's indexes on the log: by event type, by stream type and by correlation id,
so that each of its filters and searches is read from an index (its date filter uses the
primary key: backoffice.eventlog.position_at).

Each costs every append; measured in docs/benchmarks.md ("Back office indexes"). The append
benchmark's raw baseline table has the same ones (bench/common.py ADMIN_INDEXES).
"""

import django.db.models.fields.json
import django.db.models.functions
from django.db import migrations, models


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
    ]
