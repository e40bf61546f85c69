"""The tables several shards of a projection write (per-status and per-word counts, customer
summaries, daily sales) get a ``shard`` column in their unique key: each shard adds its deltas
to its own part of a row, so no two shards ever wait for one row; readers sum the parts.

Existing rows become shard 0's parts (what a projection of one shard writes). On PostgreSQL
the column (a constant default) is added without rewriting the tables; the unique keys are
rebuilt (their indexes built anew: the tables are small, one row per status, word, customer or
day). A rebuild's detached partitions get the same column and keys, so they can be attached.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TABLES = (
    "projections_orderstatuscount",
    "projections_ordertermcount",
    "projections_customersummary",
    "projections_dailysales",
)


def align_detached(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _align_detached(schema_editor, forward=True)


def unalign_detached(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _align_detached(schema_editor, forward=False)


def _align_detached(schema_editor: BaseDatabaseSchemaEditor, *, forward: bool) -> None:
    """The detached partitions of a rebuild in progress: the column, its check and the new
    unique key, as their parent has them now (ATTACH needs them); backwards, without them."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                "SELECT c.relname FROM pg_class c "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
                "AND c.relname ~ %s "
                "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
                [f"^{table}_g[0-9]+$"],
            )
            children = [child for (child,) in cursor.fetchall()]
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'u' ORDER BY conname",
                [table],
            )
            unique = [definition for _name, definition in cursor.fetchall()]
            if not forward:  # the keys as they were before
                unique = [d.replace(", shard)", ")") for d in unique]
            # ATTACH finds a partition's CHECK constraints by the parent's names.
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'c' "
                "AND pg_get_constraintdef(oid) LIKE %s",
                [table, "%shard%"],
            )
            checks = cursor.fetchall()
            for child in children:
                if forward:
                    cursor.execute(
                        f"ALTER TABLE {child} ADD COLUMN IF NOT EXISTS shard smallint "
                        "NOT NULL DEFAULT 0"
                    )
                else:  # its unique key and check go with it
                    cursor.execute(f"ALTER TABLE {child} DROP COLUMN IF EXISTS shard")
                cursor.execute(
                    "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
                    "AND contype = 'u'",
                    [child],
                )
                for (name,) in cursor.fetchall():
                    cursor.execute(f"ALTER TABLE {child} DROP CONSTRAINT {name}")
                for number, definition in enumerate(unique, start=1):
                    cursor.execute(
                        f"ALTER TABLE {child} ADD CONSTRAINT {child}_u{number} {definition}"
                    )
                for name, definition in checks if forward else ():
                    cursor.execute(f"ALTER TABLE {child} ADD CONSTRAINT {name} {definition}")


class Migration(migrations.Migration):
    dependencies = [
        ("projections", "0010_follower_shards_and_leases"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="customersummary",
            name="customer_summary_customer",
        ),
        migrations.RemoveConstraint(
            model_name="dailysales",
            name="daily_sales_date",
        ),
        migrations.RemoveConstraint(
            model_name="orderstatuscount",
            name="order_status_count",
        ),
        migrations.RemoveConstraint(
            model_name="ordertermcount",
            name="order_term_count",
        ),
        migrations.AddField(
            model_name="customersummary",
            name="shard",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="dailysales",
            name="shard",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="orderstatuscount",
            name="shard",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="ordertermcount",
            name="shard",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddConstraint(
            model_name="customersummary",
            constraint=models.UniqueConstraint(
                fields=("generation", "customer_id", "shard"), name="customer_summary_customer"
            ),
        ),
        migrations.AddConstraint(
            model_name="dailysales",
            constraint=models.UniqueConstraint(
                fields=("generation", "date", "shard"), name="daily_sales_date"
            ),
        ),
        migrations.AddConstraint(
            model_name="orderstatuscount",
            constraint=models.UniqueConstraint(
                fields=("generation", "status", "shard"), name="order_status_count"
            ),
        ),
        migrations.AddConstraint(
            model_name="ordertermcount",
            constraint=models.UniqueConstraint(
                fields=("generation", "term", "status", "shard"), name="order_term_count"
            ),
        ),
        migrations.RunPython(align_detached, unalign_detached),
    ]
