"""Reading the log for the back office: what its filters offer, what its search box means, and
where a moment lies in it.

Every question here is answered from an index of eventstore_event (docs/decisions.md, "Back
office"): the distinct stream and event types by a loose index scan, searches by equality on
indexed columns or expressions, moments by bisecting the primary key.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final

from django.db import connection
from django.db.models import Max, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from eventstore.models import Event

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


# How far an event's recorded_at may lag behind one appended after it: the store stamps an event
# just before the insert that gives it its position, so two writers can cross by the time
# between the two (milliseconds; a statement times out after 60 s).
CLOCK_SKEW: Final = timedelta(seconds=60)


def position_at(moment: datetime) -> int:
    """A position before which every event was recorded before ``moment`` (with CLOCK_SKEW to
    spare): where a date range starts, or ends, in the log.

    Found by bisecting the primary key (about log2(n) lookups of one row each), because
    recorded_at grows with the position. Filtered on recorded_at alone, PostgreSQL walked the
    primary key back from the newest event through every row after the range (1.5 s for a day
    150 days back in 1,000,000 events): it cannot know that the two columns move together.
    """
    target = moment - CLOCK_SKEW
    rows = Event.objects.order_by("global_position").values_list("global_position", "recorded_at")
    last = Event.objects.aggregate(last=Max("global_position"))["last"] or 0
    # Every event before `low` was recorded before the target; none in [high, ...) was.
    low, high = 1, last + 1
    while low < high:
        middle = (low + high) // 2
        found = rows.filter(global_position__gte=middle, global_position__lt=high).first()
        if found is None or found[1] >= target:
            high = middle  # nothing in [middle, found) exists: the boundary is at or before it
        else:
            low = found[0] + 1
    return low
