"""PostgreSQL: every read-model table is partitioned by generation, one table per generation.

A rebuild fills its generation's tables *detached*, with only the unique keys its upserts need,
and attaches them when it has caught up: PostgreSQL then builds the other indexes (full text
included) in one sorted pass each, instead of updating them row by row, and queries, which
read the parent table, never see a half-built generation. A retired generation is dropped as
a whole, leaving no dead rows behind. Projectors read and write a generation's own table.

The functions take table names so that migrations can use them too (projections 0005).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.db.backends.utils import CursorWrapper

from projections.engine.backends.base import GenerationTables


def partition_name(table: str, generation: int) -> str:
    return f"{table}_g{generation}"


def create_partitions(tables: Iterable[str], generation: int, *, attach: bool) -> None:
    """Fresh, empty partitions of ``tables`` for ``generation``, attached or left detached.

    Whatever an earlier generation of the same number left behind is dropped first.
    """
    with connection.cursor() as cursor:
        for table in tables:
            child = partition_name(table, generation)
            cursor.execute(f"DROP TABLE IF EXISTS {child}")
            cursor.execute(
                f"CREATE TABLE {child} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            # Rows written straight into a partition get ids from the parent's sequence.
            cursor.execute(
                f"ALTER TABLE {child} ALTER COLUMN id "
                f"SET DEFAULT nextval(pg_get_serial_sequence(%s, 'id'))",
                [table],
            )
            for number, definition in enumerate(_unique_keys(cursor, table), start=1):
                cursor.execute(f"ALTER TABLE {child} ADD CONSTRAINT {child}_u{number} {definition}")
            if attach:
                _attach(cursor, table, child, generation)


def attach_partitions(tables: Iterable[str], generation: int) -> None:
    """Make ``generation``'s partitions part of their parents (building their other indexes)."""
    with connection.cursor() as cursor:
        for table in tables:
            child = partition_name(table, generation)
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = %s::regclass)",
                [child],
            )
            row = cursor.fetchone()
            if not (row and row[0]):
                _attach(cursor, table, child, generation)


def drop_partitions(tables: Iterable[str], generation: int) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS {partition_name(table, generation)}")


def _attach(cursor: CursorWrapper, table: str, child: str, generation: int) -> None:
    cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {child} FOR VALUES IN ({generation:d})")


def _unique_keys(cursor: CursorWrapper, table: str) -> list[str]:
    """The parent's UNIQUE constraints (not its primary key), as ``UNIQUE (...)`` clauses."""
    cursor.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'u' ORDER BY conname",
        [table],
    )
    return [definition for (definition,) in cursor.fetchall()]


def _names(tables: Sequence[type[models.Model]]) -> list[str]:
    return [model._meta.db_table for model in tables]


class PartitionedTables(GenerationTables):
    def physical_table(self, model: type[models.Model], generation: int) -> str:
        return partition_name(model._meta.db_table, generation)

    def create(
        self, tables: Sequence[type[models.Model]], generation: int, *, attach: bool
    ) -> None:
        create_partitions(_names(tables), generation, attach=attach)

    def attach(self, tables: Sequence[type[models.Model]], generation: int) -> None:
        attach_partitions(_names(tables), generation)

    def drop(self, tables: Sequence[type[models.Model]], generation: int) -> None:
        drop_partitions(_names(tables), generation)
