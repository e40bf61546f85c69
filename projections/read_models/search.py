"""``search_text__matches=q``: what the order search's ``q`` means, as a Django lookup; and
``OneWord(q)``, the word the counts by word are kept under when ``q`` is one.

Every word of ``q`` must occur in the text. On PostgreSQL that is full text search with the
'simple' configuration, the same expression the GIN index of migration 0002 is built on;
elsewhere (SQLite) each word is a case-insensitive "contains".
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FullResultSet
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, Lookup, TextField
from django.db.models.lookups import IContains
from django.db.models.sql.compiler import SQLCompiler

SqlParams = tuple[str, tuple[Any, ...]]


class Matches(Lookup):
    lookup_name = "matches"

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> SqlParams:
        words = [compiler.compile(IContains(self.lhs, word)) for word in self.rhs.split()]
        if not words:
            raise FullResultSet
        return " AND ".join(sql for sql, _ in words), tuple(p for _, ps in words for p in ps)

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> SqlParams:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        sql = f"to_tsvector('simple', {lhs}) @@ plainto_tsquery('simple', {rhs})"
        return sql, (*lhs_params, *rhs_params)


class OneWord(Expression):
    """The lexeme of ``q`` if PostgreSQL's full text search splits it into exactly one (so
    ``@@ plainto_tsquery('simple', q)`` matches the texts that have that lexeme), else NULL.
    NULL on databases without full text search, whose search counts its matches."""

    output_field = TextField()

    def __init__(self, q: str) -> None:
        super().__init__()
        self.q = q

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> SqlParams:
        return "NULL", ()

    def as_postgresql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> SqlParams:
        vector = "to_tsvector('simple', %s::text)"
        sql = f"CASE WHEN length({vector}) = 1 THEN (tsvector_to_array({vector}))[1] END"
        return sql, (self.q, self.q)
