"""Set-based reads and writes of read-model rows, keyed by (generation, order_id) and the like.

Projectors hand over plain dicts. On PostgreSQL each operation goes to the generation's own
table (projections.partitions) and is one prepared statement whose rows travel as a single
JSON document (``jsonb_to_recordset``), so the SQL text never changes with the batch and
nothing is quoted row by row in Python; lookups by key use
``(generation, key) IN (SELECT g, unnest(keys))``, which a brand-new generation without
planner statistics still answers from its unique index. Elsewhere (SQLite) the ORM does it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection, models

from common.db import fetch
from projections.engine.partitions import physical_table

Row = dict[str, Any]


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: never through float
    raise TypeError(f"Cannot put {type(value).__name__} into a JSON row")


def _document(rows: Sequence[Row]) -> str:
    # orjson writes UUIDs, dates and aware datetimes (RFC 3339) itself, and fast.
    return orjson.dumps(rows, default=_json_default).decode()


def _column(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def _recordset(model: type[models.Model], names: Sequence[str]) -> str:
    """``jsonb_to_recordset(%s::jsonb) AS r(col type, ...)`` for ``names`` of ``model``."""
    columns = ", ".join(f"{n} {_column(model, n).db_type(connection)}" for n in names)
    return f"jsonb_to_recordset(%s::jsonb) AS r({columns})"


def load(
    model: type[models.Model],
    generation: int,
    key: str,
    keys: Iterable[Any],
    columns: Sequence[str],
    *,
    order_by: Sequence[str] = (),
) -> list[Row]:
    """The rows of ``generation`` whose ``key`` is one of ``keys``, as dicts of ``columns``."""
    wanted = list(keys)
    if not wanted:
        return []
    if not _is_postgres():
        rows = model._default_manager.filter(generation=generation, **{f"{key}__in": wanted})
        return list(rows.order_by(*order_by).values(*columns))
    key_type = _column(model, key).db_type(connection)
    sql = (
        f"SELECT {', '.join(columns)} FROM {physical_table(model, generation)} "  # noqa: S608
        f"WHERE (generation, {key}) IN (SELECT %s::int, unnest(%s::{key_type}[]))"
        + (f" ORDER BY {', '.join(order_by)}" if order_by else "")
    )
    # jsonb columns arrive parsed (eventstore.sql reads binary results).
    return [dict(zip(columns, values, strict=True)) for values in fetch(sql, [generation, wanted])]


def delete(model: type[models.Model], generation: int, key: str, keys: Iterable[Any]) -> None:
    wanted = list(keys)
    if not wanted:
        return
    if not _is_postgres():
        model._default_manager.filter(generation=generation, **{f"{key}__in": wanted}).delete()
        return
    key_type = _column(model, key).db_type(connection)
    fetch(
        f"DELETE FROM {physical_table(model, generation)} "  # noqa: S608 - model metadata
        f"WHERE (generation, {key}) IN (SELECT %s::int, unnest(%s::{key_type}[]))",
        [generation, wanted],
    )


def upsert(
    model: type[models.Model],
    generation: int,
    rows: Sequence[Row],
    *,
    unique: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert ``rows`` into ``generation``; on a clash of ``unique`` set the ``update`` columns.

    With ``update`` None a clash is an error (plain insert).
    """
    if not rows:
        return
    names = list(rows[0])
    if not _is_postgres():
        objects = [model(generation=generation, **row) for row in rows]
        if update is None:
            model._default_manager.bulk_create(objects)
        else:
            model._default_manager.bulk_create(
                objects,
                update_conflicts=True,
                unique_fields=["generation", *unique],
                update_fields=list(update),
            )
        return
    conflict = ""
    if update is not None:
        sets = ", ".join(f"{n} = excluded.{n}" for n in update)
        conflict = f" ON CONFLICT (generation, {', '.join(unique)}) DO UPDATE SET {sets}"
    fetch(
        f"INSERT INTO {physical_table(model, generation)} (generation, {', '.join(names)}) "  # noqa: S608
        f"SELECT %s::int, {', '.join(names)} FROM {_recordset(model, names)}{conflict}",
        [generation, _document(rows)],
    )


def add(
    model: type[models.Model],
    generation: int,
    rows: Sequence[Row],
    *,
    key: str,
    sums: Sequence[str],
    latest: Sequence[str] = (),
) -> None:
    """Add ``rows`` onto the rows with the same ``key``: ``sums`` add up, ``latest`` keep the max.

    Counters move by signed deltas, so a batch costs the same however large the totals are.
    """
    if not rows:
        return
    table = physical_table(model, generation)
    names = [key, *sums, *latest]
    sets = [f"{n} = {table}.{n} + excluded.{n}" for n in sums] + [
        f"{n} = CASE WHEN {table}.{n} IS NULL OR excluded.{n} > {table}.{n} "
        f"THEN excluded.{n} ELSE {table}.{n} END"
        for n in latest
    ]
    conflict = f"ON CONFLICT (generation, {key}) DO UPDATE SET {', '.join(sets)}"
    if _is_postgres():
        fetch(
            f"INSERT INTO {table} (generation, {', '.join(names)}) "  # noqa: S608
            f"SELECT %s::int, {', '.join(names)} FROM {_recordset(model, names)} {conflict}",
            [generation, _document(rows)],
        )
        return
    values: list[Any] = []
    for row in rows:
        values.append(generation)
        for name in names:
            field = _column(model, name)
            values.append(field.get_db_prep_value(row[name], connection, prepared=False))
    placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(names) + 1)) + ")"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (generation, {', '.join(names)}) "  # noqa: S608
            f"VALUES {placeholders} {conflict}",
            values,
        )
