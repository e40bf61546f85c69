"""Hot-path SQL on Django's connection: prepared, with server-side parameters, on PostgreSQL.

Django's psycopg cursors inline parameters into the SQL text, which costs a parse and a plan on
every call. The statements here run thousands of times a second, so on PostgreSQL they go
through a plain psycopg cursor on the same connection (same transaction, errors translated by
Django) and are prepared once per connection. Other databases use Django's cursor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.db import connection

Params = Mapping[str, Any] | Sequence[Any]


def fetch(sql: str, params: Params) -> list[tuple[Any, ...]]:
    """Run ``sql`` and return its rows (an empty list when it returns none)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
    connection.ensure_connection()
    raw = connection.connection
    assert isinstance(raw, psycopg.Connection)
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if cursor.description else []
