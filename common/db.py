"""Hot-path SQL on Django's connection: prepared, with server-side parameters, on PostgreSQL.

Django's psycopg cursors inline parameters into the SQL text, which costs a parse and a plan on
every call. The statements here run thousands of times a second, so on PostgreSQL they go
through a plain psycopg cursor on the same connection (same transaction, errors translated by
Django) and are prepared once per connection. Other databases use Django's cursor.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import psycopg
from django.db import connection
from psycopg.types.json import JsonbBinaryLoader

Params = Mapping[str, Any] | Sequence[Any]


# orjson turns integers beyond 64 bits into floats without a word; jsonb keeps them exact.
_LONG_NUMBER = re.compile(rb"\d{20}")


def json_loads(text: str | bytes) -> Any:
    """orjson's parse, or the standard library's (exact) when a number may not fit 64 bits."""
    data = text.encode() if isinstance(text, str) else text
    if _LONG_NUMBER.search(data):
        return json.loads(data)
    return orjson.loads(data)


class _FastJsonbBinaryLoader(JsonbBinaryLoader):
    """jsonb results in binary format, parsed by orjson (Django's cursors read text: unaffected)."""

    _loads = staticmethod(json_loads)


_tuned: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def _tune(raw: psycopg.Connection[Any]) -> None:
    if raw not in _tuned:
        raw.adapters.register_loader("jsonb", _FastJsonbBinaryLoader)
        _tuned.add(raw)


def fetch(sql: str, params: Params) -> list[tuple[Any, ...]]:
    """Run ``sql`` and return its rows (an empty list when it returns none)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
    connection.ensure_connection()
    raw = connection.connection
    assert isinstance(raw, psycopg.Connection)
    _tune(raw)
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        # Binary results: psycopg's C loaders parse timestamps, uuids and numbers.
        cursor.execute(sql, params, prepare=True, binary=True)
        return cursor.fetchall() if cursor.description else []
