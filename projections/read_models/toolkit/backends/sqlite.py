"""The toolkit on SQLite (the embedded default): every generation shares the model's own
table (rows carry their generation), rows through the ORM."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models

from projections.read_models.toolkit.backends.base import Row, TableBackend, Terms, adding_conflict


class SQLiteTables(TableBackend):
    # --- tables: one per model, shared by every generation ------------------------------
    def physical_table(self, model: type[models.Model], generation: int) -> str:
        return model._meta.db_table

    def create(
        self, tables: Sequence[type[models.Model]], generation: int, *, attach: bool
    ) -> None:
        self.drop(tables, generation)

    def attach(
        self,
        tables: Sequence[type[models.Model]],
        generation: int,
        meanwhile: Callable[[], None] = lambda: None,
    ) -> None:
        meanwhile()  # queries filter by generation: its rows were visible all along

    def drop(self, tables: Sequence[type[models.Model]], generation: int) -> None:
        for model in tables:
            model._default_manager.filter(generation=generation).delete()

    # --- rows through the ORM -------------------------------------------------------------
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
        rows = model._default_manager.filter(generation=generation, **{f"{key}__in": keys})
        return list(rows.order_by(*order_by).values(*columns))

    def delete(
        self, model: type[models.Model], generation: int, *, key: str, keys: list[Any]
    ) -> None:
        model._default_manager.filter(generation=generation, **{f"{key}__in": keys}).delete()

    def upsert(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        unique: Sequence[str],
        update: Sequence[str] | None,
    ) -> None:
        objects = [model(generation=generation, **row) for row in rows]
        if update is None:
            model._default_manager.bulk_create(objects)
            return
        model._default_manager.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["generation", *unique],
            update_fields=list(update),
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
        # No full text search here (the search's ``q`` is "contains" per word, and it counts
        # its matches): ``terms`` are not kept.
        # The ORM cannot add onto a conflicting row: the same ON CONFLICT as PostgreSQL's.
        table = model._meta.db_table
        names = [key, *sums, *latest]
        values: list[Any] = []
        for row in rows:
            values.append(generation)
            for name in names:
                field = model._meta.get_field(name)
                assert isinstance(field, models.Field)
                values.append(field.get_db_prep_value(row[name], connection, prepared=False))
        placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(names) + 1)) + ")"] * len(rows))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (generation, {', '.join(names)}) "  # noqa: S608
                f"VALUES {placeholders} {adding_conflict(table, key, sums, latest)}",
                values,
            )

    def takes_terms(self, model: type[models.Model], generation: int) -> bool:
        return False

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
        pass  # no full text search: no word counts (see ``add``)
