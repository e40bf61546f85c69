"""What the read-model toolkit asks of a database: where a generation's rows live, and
set-based reads and writes of them. PostgreSQL (a partition per generation, rows as JSON
recordsets) and SQLite (a generation column, the ORM) each implement it; ``table_backend()``
(projections.read_models.toolkit.backends) picks one once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models

Row = dict[str, Any]


class GenerationTables(ABC):
    """Where each generation's rows of a read-model table live."""

    @abstractmethod
    def physical_table(self, model: type[models.Model], generation: int) -> str:
        """The table holding ``generation``'s rows of ``model``."""

    @abstractmethod
    def create(
        self, tables: Sequence[type[models.Model]], generation: int, *, attach: bool
    ) -> None:
        """Empty tables for a new ``generation`` (whatever was left under its number is gone),
        visible to queries at once (``attach``) or only once attached."""

    @abstractmethod
    def attach(
        self,
        tables: Sequence[type[models.Model]],
        generation: int,
        meanwhile: Callable[[], None] = lambda: None,
    ) -> None:
        """Make ``generation``'s rows visible to queries (builds their indexes if need be);
        ``meanwhile`` runs on this connection before they are, while the indexes are built."""

    @abstractmethod
    def drop(self, tables: Sequence[type[models.Model]], generation: int) -> None:
        """Remove every row of ``generation``."""


@dataclass(frozen=True)
class Terms:
    """Counts by word to move with an ``add``: each row (``text``, ``key``, ``delta``) adds its
    signed ``delta`` to the ``count`` column of ``model``'s row (generation, term, ``key``) of
    every distinct word (PostgreSQL's lexeme, 'simple' configuration) of its ``text``.

    Only where the database has full text search (PostgreSQL); elsewhere nothing is written.
    A generation being rebuilt may leave them out until ``recount_terms`` (PostgreSQL: while
    its tables are detached).
    """

    model: type[models.Model]
    rows: Sequence[Row]
    key: str
    count: str


class Rows(ABC):
    """Set-based reads and writes of read-model rows (the contract: toolkit.tables)."""

    @abstractmethod
    def load(
        self,
        model: type[models.Model],
        generation: int,
        *,
        key: str,
        keys: list[Any],
        columns: Sequence[str],
        order_by: Sequence[str],
    ) -> list[Row]: ...

    @abstractmethod
    def delete(
        self, model: type[models.Model], generation: int, *, key: str, keys: list[Any]
    ) -> None: ...

    @abstractmethod
    def upsert(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        unique: Sequence[str],
        update: Sequence[str] | None,
    ) -> None: ...

    @abstractmethod
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
        """Add ``rows`` (see toolkit.tables.add) and, in the same statement, the word counts
        ``terms``."""

    @abstractmethod
    def takes_terms(self, model: type[models.Model], generation: int) -> bool:
        """Whether ``add`` counts Terms into ``model``'s rows of ``generation`` now (it may
        answer True where ``add`` then finds it does not: never the other way)."""

    @abstractmethod
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
        """Replace ``generation``'s word counts in ``model`` (see Terms) by those of the rows
        of ``source``: the number of them with each word in their ``text`` and each ``key``."""


def adding_conflict(table: str, key: str, sums: Sequence[str], latest: Sequence[str]) -> str:
    """``ON CONFLICT`` adding ``sums`` onto the row with the same ``key`` and keeping the
    maximum of ``latest`` (PostgreSQL and SQLite share the syntax)."""
    sets = [f"{n} = {table}.{n} + excluded.{n}" for n in sums] + [
        f"{n} = CASE WHEN {table}.{n} IS NULL OR excluded.{n} > {table}.{n} "
        f"THEN excluded.{n} ELSE {table}.{n} END"
        for n in latest
    ]
    return f"ON CONFLICT (generation, {key}) DO UPDATE SET {', '.join(sets)}"


class TableBackend(GenerationTables, Rows, ABC):
    """Everything the toolkit asks of one database."""
