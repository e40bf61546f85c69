"""On PostgreSQL the log refuses UPDATE, DELETE and TRUNCATE, whoever sends them."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from eventstore.models import Event
from eventstore.store import NO_STREAM, append_to_stream, read_stream
from tests.eventstore.support import events

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def raw_row(stream_id: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT global_position, event_id, stream_id, version, event_type, schema_version, "
            "data::text, metadata::text, recorded_at, tx_id::text FROM eventstore_event "
            "WHERE stream_id = %s ORDER BY global_position",
            [stream_id],
        )
        return cursor.fetchall()


@pytest.fixture
def stored() -> list[tuple[Any, ...]]:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    return raw_row("order-1")


@pytest.mark.parametrize(
    ("operation", "sql"),
    [
        ("UPDATE", "UPDATE eventstore_event SET data = '{\"forged\": true}' WHERE version = 1"),
        ("UPDATE", "UPDATE eventstore_event SET stream_id = 'order-2'"),
        ("DELETE", "DELETE FROM eventstore_event WHERE version = 2"),
        ("DELETE", "DELETE FROM eventstore_event"),
        ("TRUNCATE", "TRUNCATE eventstore_event"),
        ("TRUNCATE", "TRUNCATE eventstore_event RESTART IDENTITY CASCADE"),
    ],
)
def test_raw_sql_that_changes_the_log_is_refused_naming_the_table_and_append_only(
    stored: list[tuple[Any, ...]], operation: str, sql: str
) -> None:
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)

    message = str(info.value)
    assert "eventstore_event" in message
    assert "append-only" in message
    assert f"{operation} is not allowed" in message
    assert raw_row("order-1") == stored


def test_orm_updates_and_deletes_of_events_are_refused(stored: list[tuple[Any, ...]]) -> None:
    event = Event.objects.get(stream_id="order-1", version=1)
    event.data = {"forged": True}

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.objects.filter(stream_id="order-1").update(event_type="Forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.objects.filter(stream_id="order-1").delete()

    assert raw_row("order-1") == stored
    assert [e.data["n"] for e in read_stream("order-1")] == [1, 2]


def test_the_escape_hatch_is_closed_by_default() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('eventstore.allow_destructive', true)")
        (setting,) = cursor.fetchone()

    assert setting in (None, "", "off")


def test_the_escape_hatch_opens_only_for_the_transaction_that_sets_it(
    transactional_db: None,
) -> None:
    append_to_stream("order-1", "Order", events(1), expected_version=NO_STREAM)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL eventstore.allow_destructive = 'on'")
        cursor.execute("DELETE FROM eventstore_event WHERE stream_id = 'order-1'")
    append_to_stream("order-2", "Order", events(1), expected_version=NO_STREAM)

    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM eventstore_event WHERE stream_id = 'order-2'")
    assert read_stream("order-1") == []
    assert len(read_stream("order-2")) == 1
