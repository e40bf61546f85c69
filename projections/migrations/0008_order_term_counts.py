"""The order_views projection's per-word order counts (read_models.OrderTermCount).

Partitioned by generation on PostgreSQL like the other read-model tables (projections 0005),
and filled from the order views every generation already has, the words split by PostgreSQL
as the search splits them: a rebuild in progress (its tables still detached) gets its counts
detached too. Elsewhere (SQLite) the table stays empty: the search counts its matches there.
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

TABLE = "projections_ordertermcount"
VIEWS = "projections_orderview"
_FILL = (
    "INSERT INTO {into} (generation, term, status, order_count) "
    "SELECT generation, term, status, count(*) FROM {views} "
    "CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('simple', search_text))) AS term "
    "GROUP BY generation, term, status"
)


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
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
    dependencies = [("projections", "0007_order_status_counts")]

    operations = [
        migrations.CreateModel(
            name="OrderTermCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("generation", models.IntegerField()),
                ("term", models.TextField()),
                ("status", models.CharField(max_length=20)),
                ("order_count", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("generation", "term", "status"), name="order_term_count"
                    )
                ],
            },
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
