"""Counts and sums over many orders (customer summaries, daily sales) as bigints and
NUMERIC(34, 2): a day's units overflowed a 32-bit integer with legal orders (issue 16;
docs/decisions.md, "How large read-model numbers grow").

On PostgreSQL each table is altered in one statement (one rewrite), its attached partitions
with it, then the detached ones of a rebuild in progress likewise. Elsewhere (SQLite) integers
are 64-bit and decimals carry no precision: only the models' state changes.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from projections.read_models.toolkit.backends.postgres_partitions import align_detached_partitions

SUMS = "numeric(34, 2)"
WIDER = {
    "projections_customersummary": {
        "order_count": "bigint",
        "open_order_count": "bigint",
        "cancelled_count": "bigint",
        "lifetime_value": SUMS,
    },
    "projections_dailysales": {
        "orders_placed": "bigint",
        "orders_cancelled": "bigint",
        "orders_shipped": "bigint",
        "gross_revenue": SUMS,
        "items_sold": "bigint",
    },
}
NARROWER = {
    table: {
        column: "numeric(18, 2)" if kind == SUMS else "integer" for column, kind in columns.items()
    }
    for table, columns in WIDER.items()
}


def _alter(schema_editor: BaseDatabaseSchemaEditor, types: dict[str, dict[str, str]]) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table, columns in types.items():
            changes = ", ".join(f"ALTER COLUMN {c} TYPE {t}" for c, t in columns.items())
            cursor.execute(f"ALTER TABLE {table} {changes}")
    align_detached_partitions(types)


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _alter(schema_editor, WIDER)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _alter(schema_editor, NARROWER)


def _field(kind: str) -> models.Field:  # type: ignore[type-arg]
    if kind == SUMS:
        return models.DecimalField(decimal_places=2, max_digits=34)
    return models.BigIntegerField()


class Migration(migrations.Migration):
    dependencies = [("projections", "0008_order_term_counts")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=table.removeprefix("projections_"), name=column, field=_field(kind)
                )
                for table, columns in WIDER.items()
                for column, kind in columns.items()
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        )
    ]
