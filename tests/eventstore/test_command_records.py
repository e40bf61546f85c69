"""Command records: a keyed command's record written by the append's own statement
(PostgreSQL), or left to the caller (SQLite); and an append outside a transaction, which
commits by itself. The store builds the statement: its callers give it a record, no SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from eventstore.store import (
    NO_STREAM,
    CommandRecord,
    ConcurrencyError,
    append_to_stream,
    appends_in_one_statement,
    current_version,
    read_stream,
)
from tests.eventstore.support import events

pytestmark = pytest.mark.django_db(transaction=True)


class Receipts:
    """Stands for the caller's model of records: the store needs only its table's name."""

    class _meta:
        db_table = "command_receipt"


@pytest.fixture
def receipts() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE command_receipt (id bigserial, actor text, key text, request_hash text, "
            "response jsonb, created_at timestamptz, PRIMARY KEY (actor, key))"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE command_receipt")


def stored() -> list[tuple[str, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, response FROM command_receipt ORDER BY key")
        rows = cursor.fetchall()
    answers = [(key, json.loads(r) if isinstance(r, str) else r) for key, r in rows]
    return [(key, answer["version"], answer["position"]) for key, answer in answers]


def receipt(key: str) -> CommandRecord:
    return CommandRecord(
        table=Receipts,
        actor="clerk",
        key=key,
        request_hash="f" * 64,
        answer={"thing": key},
        created_at=datetime.now(UTC),
    )


@pytest.mark.postgres
def test_a_record_is_written_by_the_append_with_the_last_event_s_version_and_position(
    receipts: None,
) -> None:
    result = append_to_stream(
        "s-1", "Thing", events(3), expected_version=NO_STREAM, record=receipt("a")
    )

    assert result.record_written is True
    assert stored() == [("a", 3, result.last_position)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT actor, request_hash, response->>'thing' FROM command_receipt")
        assert cursor.fetchone() == ("clerk", "f" * 64, "a")


@pytest.mark.postgres
def test_a_taken_key_fails_the_append_too(receipts: None) -> None:
    append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM, record=receipt("a"))

    with pytest.raises(IntegrityError):
        append_to_stream("s-2", "Thing", events(2), expected_version=NO_STREAM, record=receipt("a"))

    assert current_version("s-2") == 0
    assert [row[0] for row in stored()] == ["a"]


@pytest.mark.postgres
def test_a_version_conflict_writes_no_record(receipts: None) -> None:
    append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM)

    with pytest.raises(ConcurrencyError):
        append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM, record=receipt("a"))

    assert stored() == []
    assert current_version("s-1") == 1


@pytest.mark.postgres
def test_a_record_inside_the_caller_s_transaction_rolls_back_with_it(receipts: None) -> None:
    with transaction.atomic():
        append_to_stream("s-1", "Thing", events(1), expected_version=NO_STREAM, record=receipt("a"))
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


def test_where_the_append_writes_no_record_the_caller_writes_it(receipts: None) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL writes the records")
    assert not appends_in_one_statement()

    result = append_to_stream(
        "s-1", "Thing", events(1), expected_version=NO_STREAM, record=receipt("a")
    )

    assert result.record_written is False
    assert stored() == []
    assert current_version("s-1") == 1


def test_the_store_s_api_takes_no_sql() -> None:
    """What a caller hands the store are values: no parameter of its public functions, and no
    field of its records, is SQL (the command's record is written by the store's statement)."""
    import dataclasses
    import inspect

    from eventstore import records, store

    assert not hasattr(store, "Rider")
    for name in store.__all__:
        value = getattr(store, name)
        if inspect.isfunction(value):
            for parameter in inspect.signature(value).parameters:
                assert "sql" not in parameter.lower(), f"{name}({parameter})"
        elif dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                assert "sql" not in field.name.lower(), f"{name}.{field.name}"
    assert [f.name for f in dataclasses.fields(records.CommandRecord)] == [
        "table",
        "actor",
        "key",
        "request_hash",
        "answer",
        "created_at",
    ]
