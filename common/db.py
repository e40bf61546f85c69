"""Hot-path SQL on Django's connection (prepared, server-side parameters, on PostgreSQL) and JSON.

Django's psycopg cursors inline parameters into the SQL text, which costs a parse and a plan on
every call. The statements here run thousands of times a second, so on PostgreSQL they go
through a plain psycopg cursor on the same connection (same transaction, errors translated by
Django) and are prepared once per connection. Other databases use Django's cursor.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, InterfaceError, InternalError, OperationalError, connections
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


_DJANGO_JSON: Final = DjangoJSONEncoder(separators=(",", ":"))
# Datetimes and dataclasses go to DjangoJSONEncoder.default too: its text for datetimes (ISO
# with milliseconds, "Z"), its refusal of dataclasses.
_ORJSON_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_dumps(value: Any) -> str:
    """``value`` as DjangoJSONEncoder encodes it (same JSON value, same errors), by orjson.

    orjson is 15x faster but refuses integers beyond 64 bits, non-string keys and lone
    surrogates, and writes NaN and infinities as null: then (null in the text may be one) the
    standard encoder does the work, exactly as before. One difference stays: a plain Enum
    member (neither str nor int), which the standard encoder refuses, is written by value.
    """
    try:
        text = orjson.dumps(value, default=_DJANGO_JSON.default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return _DJANGO_JSON.encode(value)
    if b"null" in text:
        return _DJANGO_JSON.encode(value)
    return text.decode()


class _FastJsonbBinaryLoader(JsonbBinaryLoader):
    """jsonb results in binary format, parsed by orjson (Django's cursors read text: unaffected)."""

    _loads = staticmethod(json_loads)


_local = threading.local()  # this thread's cursors on its connection, reused call after call


def fetch(sql: str, params: Params) -> list[tuple[Any, ...]]:
    """Run ``sql`` and return its rows (an empty list when it returns none)."""
    return fetch_each((sql, params))[0]


def fetch_each(*statements: tuple[str, Params]) -> list[list[tuple[Any, ...]]]:
    """Run ``statements`` one after the other and return their rows. Each is a statement of
    its own: in READ COMMITTED each sees what committed before it started.

    On PostgreSQL several go in one round trip (psycopg's pipeline mode) and, outside a
    transaction, run as one implicit transaction: a failing statement raises, undoes those
    before it, and those after it do not run. (Session-level advisory locks are not undone.)
    A transaction's BEGIN would gain nothing from the pipeline: psycopg waits for it anyway.
    """
    # One look-up through Django's connection handler; the proxy ``connection`` costs one
    # each time an attribute is read.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        found = []
        with db.cursor() as django_cursor:
            for sql, params in statements:
                django_cursor.execute(sql, params)
                found.append(list(django_cursor.fetchall()) if django_cursor.description else [])
        return found
    raw = db.connection
    if raw is None:
        db.ensure_connection()
        raw = db.connection
    cursors = _cursors(raw, len(statements))
    with db.wrap_database_errors:
        # Binary results: psycopg's C loaders parse timestamps, uuids and numbers.
        if len(statements) == 1:
            [(sql, params)] = statements
            cursors[0].execute(sql, params, prepare=True, binary=True)
        else:
            with raw.pipeline():  # sent together; the results are read at its end
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params, prepare=True, binary=True)
        return [cursor.fetchall() if cursor.description else [] for cursor in cursors]


def _cursors(raw: Any, count: int) -> list[psycopg.Cursor[tuple[Any, ...]]]:
    """``count`` of this thread's cursors on ``raw`` (made once per connection)."""
    cursors: list[psycopg.Cursor[tuple[Any, ...]]] = getattr(_local, "cursors", [])
    if not cursors or cursors[0].connection is not raw:
        assert isinstance(raw, psycopg.Connection)
        raw.adapters.register_loader("jsonb", _FastJsonbBinaryLoader)
        cursors = _local.cursors = []
    while len(cursors) < count:
        cursors.append(psycopg.Cursor(raw))
    return cursors[:count]


# SQLSTATE of a write refused by a read-only server or transaction (a standby after a
# failover, default_transaction_read_only); of a statement cancelled by statement_timeout.
READ_ONLY_SQL_TRANSACTION: Final = "25006"
QUERY_CANCELED: Final = "57014"


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot serve now (unreachable, hung, a lock not had
    in time, refusing writes as read-only), not that what was asked of it is wrong. A statement
    cancelled by its timeout is neither: it may be the work itself that is too much."""
    state = getattr(exc, "sqlstate", None) or getattr(exc.__cause__, "sqlstate", None)
    if isinstance(exc, (OperationalError, InterfaceError, psycopg.OperationalError)):
        return state != QUERY_CANCELED
    if isinstance(exc, (InternalError, psycopg.InternalError)):
        return state == READ_ONLY_SQL_TRANSACTION
    return isinstance(exc, psycopg.InterfaceError)
