"""The order_views projection's per-status order counts (read_models.OrderStatusCount).

Partitioned by generation on PostgreSQL like the other read-model tables (projections 0005),
and filled from the order views every generation already has: a rebuild in progress (its
tables still detached) gets its counts detached too.
"""

import importlib
import re

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from projections.read_models.toolkit.backends.postgres_partitions import (
    create_partitions,
    partition_name,
)

TABLE = "projections_orderstatuscount"
VIEWS = "projections_orderview"
_FILL = (
    "INSERT INTO {into} (generation, status, order_count) "
    "SELECT generation, status, count(*) FROM {views} GROUP BY generation, status"
)


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor != "postgresql":
            cursor.execute(_FILL.format(into=TABLE, views=VIEWS))
            return
        cursor.execute(
            "SELECT c.relname, EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) "
            "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relkind = 'r' AND c.relname LIKE %s",
            [f"{VIEWS}_g%"],
        )
        generations = {
            int(match.group(1)): attached
            for name, attached in cursor.fetchall()
            if (match := re.fullmatch(rf"{VIEWS}_g(\d+)", name))
        }
        partitioning = importlib.import_module(
            "projections.migrations.0005_partition_read_models_by_generation"
        )
        partitioning._recreate(cursor, TABLE, partitions_for=set())
        for generation, attached in sorted(generations.items()):
            create_partitions([TABLE], generation, attach=attached)
            cursor.execute(
                _FILL.format(
                    into=partition_name(TABLE, generation),
                    views=partition_name(VIEWS, generation),
                )
            )


class Migration(migrations.Migration):
    dependencies = [("projections", "0006_projection_operators_group")]

    operations = [
        migrations.CreateModel(
            name="OrderStatusCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("generation", models.IntegerField()),
                ("status", models.CharField(max_length=20)),
                ("order_count", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("generation", "status"), name="order_status_count"
                    )
                ],
            },
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
