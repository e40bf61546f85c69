"""Reading the log for the back office: what its filters offer and what its search box means.

Every question here is answered from an index of eventstore_event (docs/decisions.md, "Back
office"): the distinct stream and event types by a loose index scan, searches by equality on
indexed columns or expressions.
"""

from __future__ import annotations

import uuid
from typing import Final

from django.db import connection
from django.db.models import Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

# The actor who caused an event, for display (never searched, so not indexed).
ACTOR: Final = Cast(KeyTextTransform("actor", "metadata"), TextField())

_COLUMNS: Final = frozenset({"stream_type", "event_type"})


def distinct_values(column: str) -> list[str]:
    """The distinct values of an indexed column, one index probe each (a loose index scan).

    ``SELECT DISTINCT`` would read every row of the log; this walks the index from one value to
    the next. The same SQL runs on PostgreSQL and SQLite.
    """
    if column not in _COLUMNS:
        raise ValueError(f"{column} is not an indexed column of the log")
    sql = f"""
        WITH RECURSIVE found(value) AS (
            SELECT min({column}) FROM eventstore_event
            UNION ALL
            SELECT (SELECT min({column}) FROM eventstore_event WHERE {column} > found.value)
            FROM found WHERE found.value IS NOT NULL
        )
        SELECT value FROM found WHERE value IS NOT NULL
    """  # noqa: S608 - the column is one of two names
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def stream_ids_of(term: str) -> list[str]:
    """The stream ids a search term may mean: itself, and for a bare id, ``<type>-<id>`` for
    every stream type in the log (so an order id finds ``Order-<id>``)."""
    ids = [term]
    try:
        bare = uuid.UUID(term)
    except ValueError:
        return ids
    return ids + [f"{stream_type}-{bare}" for stream_type in distinct_values("stream_type")]


def search(term: str) -> Q:
    """Events whose stream, event id or correlation id is ``term`` (the queryset must alias
    ``correlation`` to eventstore.models.CORRELATION_ID, the indexed expression)."""
    found = Q(stream_id__in=stream_ids_of(term)) | Q(correlation=term)
    try:
        return found | Q(event_id=uuid.UUID(term))
    except ValueError:
        return found
