"""PostgreSQL: every read-model table is partitioned by generation, one table per generation.

A rebuild fills its generation's tables *detached*, with only the unique keys its upserts need,
and attaches them when it has caught up: PostgreSQL then builds the other indexes (full text
included) in one sorted pass each, instead of updating them row by row, and queries, which
read the parent table, never see a half-built generation. A retired generation is dropped as
a whole, leaving no dead rows behind. Projectors read and write a generation's own table.

The functions take table names so that migrations can use them too (projections 0005).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection, models
from django.db.backends.utils import CursorWrapper

from projections.read_models.toolkit.backends.base import GenerationTables


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


def attach_partitions(
    tables: Iterable[str], generation: int, meanwhile: Callable[[], None] = lambda: None
) -> None:
    """Make ``generation``'s partitions part of their parents (building their other indexes);
    ``meanwhile`` runs on this connection before they are.

    Outside a transaction the indexes are built first, on two connections of their own while
    ``meanwhile`` runs on this one (PostgreSQL 15 builds each index on one core), and ATTACH
    then adopts them. Inside one (a migration's) ATTACH builds them one after the other.
    """
    with connection.cursor() as cursor:
        detached = []
        for table in tables:
            child = partition_name(table, generation)
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = %s::regclass)",
                [child],
            )
            row = cursor.fetchone()
            if not (row and row[0]):
                detached.append((table, child))
        indexes = [index for table, child in detached for index in _indexes(cursor, table, child)]
    if connection.in_atomic_block or not indexes:
        meanwhile()
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            building = _build(pool, indexes, workers=2)
            meanwhile()
            for done in building:
                done.result()
    with connection.cursor() as cursor:
        for table, child in detached:
            _attach(cursor, table, child, generation)


def drop_partitions(tables: Iterable[str], generation: int) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS {partition_name(table, generation)}")


def align_detached_partitions(tables: Iterable[str]) -> None:
    """Give the detached partitions of ``tables`` (a rebuild's, still being filled) the column
    types of their parent: altering a parent's column alters only the partitions attached to
    it, and ATTACH refuses a table whose types differ (migrations call this after theirs)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT c.relname FROM pg_class c "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
                "AND c.relname ~ %s "
                "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
                [f"^{table}_g[0-9]+$"],
            )
            for (child,) in cursor.fetchall():
                cursor.execute(
                    "SELECT p.attname, format_type(p.atttypid, p.atttypmod) "
                    "FROM pg_attribute p JOIN pg_attribute c ON c.attname = p.attname "
                    "WHERE p.attrelid = %s::regclass AND c.attrelid = %s::regclass "
                    "AND p.attnum > 0 AND NOT p.attisdropped AND NOT c.attisdropped "
                    "AND (p.atttypid, p.atttypmod) <> (c.atttypid, c.atttypmod) "
                    "ORDER BY p.attnum",
                    [table, child],
                )
                changes = [f"ALTER COLUMN {n} TYPE {t}" for n, t in cursor.fetchall()]
                if changes:  # one statement: the table is rewritten once
                    cursor.execute(f"ALTER TABLE {child} {', '.join(changes)}")


def _attach(cursor: CursorWrapper, table: str, child: str, generation: int) -> None:
    cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {child} FOR VALUES IN ({generation:d})")


def _indexes(cursor: CursorWrapper, table: str, child: str) -> list[str]:
    """CREATE INDEX statements giving ``child`` the parent's indexes that ATTACH would build
    (those not behind a constraint: the partition has its unique keys already), GIN first."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid), a.amname = 'gin' FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
        "ORDER BY 2 DESC, 1",
        [table],
    )
    statements = []
    for number, (definition, _) in enumerate(cursor.fetchall(), start=1):
        unique = "UNIQUE " if definition.startswith("CREATE UNIQUE") else ""
        method_and_keys = definition[definition.index(" USING ") + 1 :]
        statements.append(
            f"CREATE {unique}INDEX IF NOT EXISTS {child}_i{number} ON {child} {method_and_keys}"
        )
    return statements


def _build(
    pool: ThreadPoolExecutor, statements: Sequence[str], *, workers: int
) -> list[Future[None]]:
    """Run ``statements`` on ``workers`` of the ``pool``'s threads, each on a connection of its
    own taking the next statement until none is left."""
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for statement in statements:
        pending.put(statement)

    def work() -> None:
        try:
            with connection.cursor() as cursor:  # this thread's own (Django's are per thread)
                while True:
                    try:
                        statement = pending.get_nowait()
                    except queue.Empty:
                        return
                    cursor.execute(statement)
        finally:
            connection.close()

    return [pool.submit(work) for _ in range(min(workers, len(statements)))]


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

    def attach(
        self,
        tables: Sequence[type[models.Model]],
        generation: int,
        meanwhile: Callable[[], None] = lambda: None,
    ) -> None:
        attach_partitions(_names(tables), generation, meanwhile)

    def drop(self, tables: Sequence[type[models.Model]], generation: int) -> None:
        drop_partitions(_names(tables), generation)
