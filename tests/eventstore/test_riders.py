"""Riders: a row of the caller's written by the append's own statement (PostgreSQL), or left
to the caller (SQLite); and an append outside a transaction, which commits by itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction

from eventstore.store import (
    NO_STREAM,
    ConcurrencyError,
    Rider,
    append_to_stream,
    appends_in_one_statement,
    current_version,
    read_stream,
)
from tests.eventstore.support import events

pytestmark = pytest.mark.django_db(transaction=True)

RIDER_SQL = (
    "INSERT INTO rider_receipt (key, version, position) "
    "SELECT %s::text, version, global_position FROM appended "
    "ORDER BY version DESC LIMIT 1"
)


@pytest.fixture
def receipts() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE rider_receipt (key text PRIMARY KEY, version int, position bigint)"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE rider_receipt")


def stored() -> list[tuple[str, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, version, position FROM rider_receipt ORDER BY key")
        return [tuple(row) for row in cursor.fetchall()]


def receipt(key: str) -> Rider:
    return Rider(RIDER_SQL, (key,))


@pytest.mark.postgres
def test_a_rider_is_written_by_the_append_with_the_last_event_s_version_and_position(
    receipts: None,
) -> None:
    result = append_to_stream(
        "s-1", "Thing", events(3), expected_version=NO_STREAM, rider=receipt("a")
    )

    assert result.rider_wrote is True
    assert stored() == [("a", 3, result.last_position)]


@pytest.mark.postgres
def test_a_rider_that_fails_fails_the_append_too(receipts: None) -> None:
    append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM, rider=receipt("a"))

    with pytest.raises(IntegrityError):
        append_to_stream("s-2", "Thing", events(2), expected_version=NO_STREAM, rider=receipt("a"))

    assert current_version("s-2") == 0
    assert [row[0] for row in stored()] == ["a"]


@pytest.mark.postgres
def test_a_version_conflict_writes_no_rider(receipts: None) -> None:
    append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM)

    with pytest.raises(ConcurrencyError):
        append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM, rider=receipt("a"))

    assert stored() == []
    assert current_version("s-1") == 1


@pytest.mark.postgres
def test_a_rider_inside_the_caller_s_transaction_rolls_back_with_it(receipts: None) -> None:
    with transaction.atomic():
        append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM, rider=receipt("a"))
        assert stored() == [("a", 1, read_stream("s-1")[0].global_position)]
        transaction.set_rollback(True)

    assert stored() == []
    assert current_version("s-1") == 0


@pytest.mark.postgres
def test_an_append_outside_a_transaction_opens_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """One statement commits by itself: no BEGIN and COMMIT round trips around it."""

    def no_block(*args: object, **kwargs: object) -> None:
        raise AssertionError("append_to_stream opened a transaction")

    assert appends_in_one_statement()
    monkeypatch.setattr(transaction, "atomic", no_block)

    append_to_stream("s-1", "Thing", events(2), expected_version=NO_STREAM)

    monkeypatch.undo()
    assert current_version("s-1") == 2


def test_where_the_append_takes_no_rider_the_caller_writes_it(receipts: None) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL writes riders")
    assert not appends_in_one_statement()

    result = append_to_stream(
        "s-1", "Thing", events(1), expected_version=NO_STREAM, rider=receipt("a")
    )

    assert result.rider_wrote is False
    assert stored() == []
    assert current_version("s-1") == 1
