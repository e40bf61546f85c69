"""``search_text__matches=q``: what the order search's ``q`` means, as a Django lookup.

Every word of ``q`` must occur in the text. On PostgreSQL that is full text search with the
'simple' configuration, the same expression the GIN index of migration 0002 is built on;
elsewhere (SQLite) each word is a case-insensitive "contains".
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FullResultSet
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Lookup
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
