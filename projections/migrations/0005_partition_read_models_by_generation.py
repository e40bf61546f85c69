"""PostgreSQL only: partition every read-model table by generation (see projections.read_models.toolkit.backends.postgres_partitions).

Rows, ids, constraint and index names are kept; the primary key becomes (id, generation), as
PostgreSQL requires the partition key in it. Every generation known (rows or state) gets its
own attached partition.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import CursorWrapper
from django.db.migrations.state import StateApps

from projections.read_models.toolkit.backends.postgres_partitions import create_partitions

READ_MODEL_TABLES = {
    "projections_orderview": "order_views",
    "projections_orderviewitem": "order_views",
    "projections_customerorderfact": "customer_summaries",
    "projections_customersummary": "customer_summaries",
    "projections_salesorderfact": "daily_sales",
    "projections_dailysales": "daily_sales",
}


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table, projection in READ_MODEL_TABLES.items():
            cursor.execute(
                "SELECT generation FROM projections_projectionstate WHERE name = %s "  # noqa: S608
                f"UNION SELECT DISTINCT generation FROM {table}",
                [projection],
            )
            _recreate(cursor, table, partitions_for={g for (g,) in cursor.fetchall()})


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Plain tables again, with the rows of every attached generation (a rebuild in progress,
    still detached, is left behind: it would start over)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in READ_MODEL_TABLES:
            _recreate(cursor, table, partitions_for=None)


def _recreate(cursor: CursorWrapper, table: str, *, partitions_for: set[int] | None) -> None:
    """Recreate ``table`` with its rows, ids and the names of its constraints and indexes:
    partitioned by generation (a partition for each of ``partitions_for``) or, with None,
    plain."""
    old = f"{table}__old"
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        [table],
    )
    keys = cursor.fetchall()

    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    for name, _kind, _definition in keys:  # their names (and their indexes') are reused
        cursor.execute(f"ALTER TABLE {old} DROP CONSTRAINT {name}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    partitioned = partitions_for is not None
    cursor.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING IDENTITY){' PARTITION BY LIST (generation)' if partitioned else ''}"
    )
    primary_key = "PRIMARY KEY (id, generation)" if partitioned else "PRIMARY KEY (id)"
    for name, kind, definition in keys:
        key = primary_key if kind == "p" else definition
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {key}")
    for _name, definition in indexes:
        cursor.execute(definition)
    for generation in sorted(partitions_for or ()):
        create_partitions([table], generation, attach=True)
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608
        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)",
        [table],
    )
    cursor.execute(f"DROP TABLE {old}")


class Migration(migrations.Migration):
    dependencies = [("projections", "0004_drop_unused_item_index")]
    operations = [migrations.RunPython(forward, backward)]
