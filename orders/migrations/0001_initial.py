import django.core.serializers.json
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="IdempotencyRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("actor", models.CharField(max_length=150)),
                ("key", models.CharField(max_length=255)),
                ("request_hash", models.CharField(max_length=64)),
                ("status_code", models.PositiveSmallIntegerField(null=True)),
                (
                    "response",
                    models.JSONField(
                        encoder=django.core.serializers.json.DjangoJSONEncoder, null=True
                    ),
                ),
                ("created_at", models.DateTimeField(db_index=True)),
            ],
            options={
                "permissions": [("issue_order_commands", "Can issue order commands")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("actor", "key"), name="orders_idempotency_actor_key"
                    )
                ],
            },
        ),
    ]
