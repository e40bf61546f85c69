"""Idempotency records keep only the first answer's body: the view picks the status itself."""

import django.core.serializers.json
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_idempotency_created_at_unindexed")]

    operations = [
        migrations.RemoveField(model_name="idempotencyrecord", name="status_code"),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response",
            # Every record was written with its answer, so no row is NULL.
            field=models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder),
        ),
    ]
