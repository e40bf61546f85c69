"""Set-based reads and writes of read-model rows, keyed by (generation, order_id) and the like.

What projections call to read and write their rows: plain dicts in, plain dicts out, one
statement per call whatever the batch's size. Each database does it its own way
(toolkit.backends: JSON recordsets into a generation's partition on PostgreSQL, the ORM on
SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models

from projections.read_models.toolkit.backends import table_backend
from projections.read_models.toolkit.backends.base import Row, Terms

__all__ = ["Terms", "add", "delete", "load", "recount_terms", "takes_terms", "upsert"]


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
    return table_backend().load(
        model, generation, key=key, keys=wanted, columns=columns, order_by=order_by
    )


def delete(model: type[models.Model], generation: int, key: str, keys: Iterable[Any]) -> None:
    """Delete the rows of ``generation`` whose ``key`` is one of ``keys``."""
    wanted = list(keys)
    if wanted:
        table_backend().delete(model, generation, key=key, keys=wanted)


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
    if rows:
        table_backend().upsert(model, generation, rows, unique=unique, update=update)


def add(
    model: type[models.Model],
    generation: int,
    rows: Sequence[Row],
    *,
    key: str,
    sums: Sequence[str],
    latest: Sequence[str] = (),
    terms: Terms | None = None,
) -> None:
    """Add ``rows`` onto the rows with the same ``key``: ``sums`` add up, ``latest`` keep the max.
    With ``terms``, also the counts by word they describe, in the same statement (where the
    database has full text search; see backends.base.Terms).

    Counters move by signed deltas, so a batch costs the same however large the totals are.
    """
    if rows:
        table_backend().add(model, generation, rows, key=key, sums=sums, latest=latest, terms=terms)


def takes_terms(model: type[models.Model], generation: int) -> bool:
    """Whether ``add`` would count ``terms`` into ``model``'s rows of ``generation`` now: not
    on a database without full text search, nor (PostgreSQL) for a generation whose tables
    are detached (a rebuild's: ``recount_terms`` counts them before it attaches them)."""
    return table_backend().takes_terms(model, generation)


def recount_terms(
    model: type[models.Model],
    generation: int,
    *,
    source: type[models.Model],
    text: str,
    key: str,
    count: str,
) -> None:
    """Count anew, in one pass, ``generation``'s words of ``source``'s ``text`` per ``key``
    into ``model`` (the counts ``add`` moves with ``terms``; see backends.base.Terms)."""
    table_backend().recount_terms(model, generation, source=source, text=text, key=key, count=count)
