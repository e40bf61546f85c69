"""PostgreSQL: read-model rows read and written as one prepared statement per operation.

Rows travel as a single JSON document (``jsonb_to_recordset``), so the SQL text never changes
with the batch and is prepared once, and nothing is quoted row by row in Python. Lookups by
key use ``(generation, key) IN (SELECT g, unnest(keys))``, which a brand-new generation
without planner statistics still answers from its unique index (a plain
``generation = g AND key IN (...)`` picked a generation-prefixed index and filtered every row).
Statements address the generation's own partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from django.db import connection, models

from common.db import fetch
from projections.read_models.toolkit.backends.base import Row, Rows, Terms, adding_conflict
from projections.read_models.toolkit.backends.postgres_partitions import partition_name

# The partitions this process has seen attached (see RecordsetRows.takes_terms).
_ATTACHED: set[str] = set()
_IS_ATTACHED = "SELECT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = %s::regclass)"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: never through float
    raise TypeError(f"Cannot put {type(value).__name__} into a JSON row")


def _document(rows: Sequence[Row]) -> str:
    # orjson writes UUIDs, dates and aware datetimes (RFC 3339) itself, and fast.
    return orjson.dumps(rows, default=_json_default).decode()


@cache  # asked for every column of every write: Django works the type out anew each time
def _db_type(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    db_type = field.db_type(connection)
    assert db_type is not None
    return db_type


def _recordset(model: type[models.Model], names: Sequence[str]) -> str:
    """``jsonb_to_recordset(%s::jsonb) AS r(col type, ...)`` for ``names`` of ``model``."""
    columns = ", ".join(f"{n} {_db_type(model, n)}" for n in names)
    return f"jsonb_to_recordset(%s::jsonb) AS r({columns})"


def _table(model: type[models.Model], generation: int) -> str:
    return partition_name(model._meta.db_table, generation)


class RecordsetRows(Rows):
    def load(
        self,
        model: type[models.Model],
        generation: int,
        *,
        key: str,
        keys: list[Any],
        columns: Sequence[str],
        order_by: Sequence[str],
    ) -> list[Row]:
        sql = (
            f"SELECT {', '.join(columns)} FROM {_table(model, generation)} "  # noqa: S608
            f"WHERE (generation, {key}) IN "
            f"(SELECT %s::int, unnest(%s::{_db_type(model, key)}[]))"
            + (f" ORDER BY {', '.join(order_by)}" if order_by else "")
        )
        # jsonb columns arrive parsed (common.db reads binary results).
        rows = fetch(sql, [generation, keys])
        return [dict(zip(columns, values, strict=True)) for values in rows]

    def delete(
        self, model: type[models.Model], generation: int, *, key: str, keys: list[Any]
    ) -> None:
        fetch(
            f"DELETE FROM {_table(model, generation)} "  # noqa: S608 - model metadata
            f"WHERE (generation, {key}) IN "
            f"(SELECT %s::int, unnest(%s::{_db_type(model, key)}[]))",
            [generation, keys],
        )

    def upsert(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        unique: Sequence[str],
        update: Sequence[str] | None,
    ) -> None:
        names = list(rows[0])
        conflict = ""
        if update is not None:
            sets = ", ".join(f"{n} = excluded.{n}" for n in update)
            conflict = f" ON CONFLICT (generation, {', '.join(unique)}) DO UPDATE SET {sets}"
        fetch(
            f"INSERT INTO {_table(model, generation)} (generation, {', '.join(names)}) "  # noqa: S608
            f"SELECT %s::int, {', '.join(names)} FROM {_recordset(model, names)}{conflict}",
            [generation, _document(rows)],
        )

    def add(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        key: str,
        sums: Sequence[str],
        latest: Sequence[str],
        terms: Terms | None = None,
    ) -> None:
        table = _table(model, generation)
        names = [key, *sums, *latest]
        sql = (
            f"INSERT INTO {table} (generation, {', '.join(names)}) "  # noqa: S608
            f"SELECT %s::int, {', '.join(names)} FROM {_recordset(model, names)} "
            f"{adding_conflict(table, key, sums, latest)}"
        )
        if terms is None:
            fetch(sql, [generation, _document(rows)])
            return
        # One statement (a round trip is most of a live batch's cost): the counts above as a
        # data-modifying CTE, then the words'.
        fetch(
            f"WITH added AS ({sql}) {_adding_terms(terms, generation)}",
            [generation, _document(rows), generation, _document(terms.rows)],
        )

    def takes_terms(self, model: type[models.Model], generation: int) -> bool:
        # A partition once attached stays so: only that answer is remembered (asked again,
        # a detached one costs a query per batch of a rebuild, and ``add`` checks anyway).
        table = _table(model, generation)
        if table in _ATTACHED:
            return True
        [(attached,)] = fetch(_IS_ATTACHED, [table])
        if attached:
            _ATTACHED.add(table)
        return bool(attached)

    def recount_terms(
        self,
        model: type[models.Model],
        generation: int,
        *,
        source: type[models.Model],
        text: str,
        key: str,
        count: str,
    ) -> None:
        table = _table(model, generation)
        with connection.cursor() as cursor:  # once per rebuild: not prepared
            # No batch of the generation may add to the counts between the two statements.
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - model metadata
            # ts_stat counts the documents with each lexeme in C: 0.40 s for 93,806 views
            # where unnest and GROUP BY took 0.98 s (docs/decisions.md).
            rows = _table(source, generation)
            documents = (
                f"SELECT to_tsvector('simple', {text}) FROM {rows} "  # noqa: S608
                f"WHERE {key} = %L"
            )
            cursor.execute(
                f"INSERT INTO {table} (generation, term, {key}, {count}) "  # noqa: S608
                f"SELECT %s::int, w.word, k.{key}, w.ndoc "
                f"FROM (SELECT DISTINCT {key} FROM {rows}) AS k "
                f"CROSS JOIN LATERAL ts_stat(format(%s, k.{key})) AS w",
                [generation, documents],
            )


def _words(text: str) -> str:
    """One row (``term``) per distinct lexeme of ``text``: what ``to_tsvector('simple', text)
    @@ plainto_tsquery('simple', term)`` finds."""
    return f"CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('simple', {text}))) AS term"


def _attached(table: str) -> str:
    return f"EXISTS (SELECT FROM pg_inherits WHERE inhrelid = '{table}'::regclass)"


def _adding_terms(terms: Terms, generation: int) -> str:
    """Terms.rows split into the distinct lexemes of their texts by PostgreSQL, summed per
    (term, key) and added onto the counts; sums of zero (a word an order kept) write nothing.

    Only once the generation's tables are attached (a one-time filter: nothing is split
    before): a rebuild counts its words in one pass before it attaches them (``recount_terms``),
    which costs less than counting them batch by batch (docs/decisions.md).
    """
    table = _table(terms.model, generation)
    key, count = terms.key, terms.count
    return (
        f"INSERT INTO {table} (generation, term, {key}, {count}) "  # noqa: S608
        f"SELECT %s::int, term, r.{key}, sum(r.delta) "
        f"FROM jsonb_to_recordset(%s::jsonb) AS r(text text, {key} "
        f"{_db_type(terms.model, key)}, delta bigint) {_words('r.text')} "
        f"WHERE {_attached(table)} "
        f"GROUP BY term, r.{key} HAVING sum(r.delta) <> 0 "
        f"ON CONFLICT (generation, term, {key}) "
        f"DO UPDATE SET {count} = {table}.{count} + excluded.{count}"
    )
