import uuid

import django.core.serializers.json
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="Event",
            fields=[
                ("global_position", models.BigAutoField(primary_key=True, serialize=False)),
                ("event_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("stream_id", models.CharField(max_length=255)),
                ("stream_type", models.CharField(max_length=100)),
                ("version", models.PositiveIntegerField()),
                ("event_type", models.CharField(max_length=100)),
                ("schema_version", models.PositiveSmallIntegerField(default=1)),
                ("data", models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder)),
                (
                    "metadata",
                    models.JSONField(
                        default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder
                    ),
                ),
                ("recorded_at", models.DateTimeField()),
            ],
            options={
                "db_table": "eventstore_event",
                "ordering": ["global_position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("stream_id", "version"), name="eventstore_stream_version"
                    )
                ],
                "indexes": [
                    models.Index(
                        fields=["stream_type", "global_position"], name="eventstore_type_pos"
                    ),
                    models.Index(fields=["recorded_at"], name="eventstore_recorded_at"),
                ],
            },
        ),
    ]
