"""common.db: JSON written as DjangoJSONEncoder writes it, and the fast SQL path."""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection

from common.db import fetch, fetch_each, json_dumps, json_loads

DJANGO = DjangoJSONEncoder(separators=(",", ":"))


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    "value",
    [
        {"price": Decimal("10.50"), "zero": Decimal("-0.00"), "id": uuid.uuid4()},
        {"at": datetime(2026, 11, 29, 12, 30, 1, 123456, tzinfo=UTC)},
        {"naive": datetime(2026, 1, 2, 3, 4, 5), "day": date(2026, 2, 3), "t": time(4, 5, 6, 7)},
        {"took": timedelta(days=1, seconds=5, microseconds=7)},
        {"nested": [{"a": 1, "b": [True, False, None]}, (1, 2)], "text": 'é ☃ \u2028 "q"'},
        {"colour": Colour.RED, "float": 0.1, "big": 2**63 - 1, "small": -(2**63)},
        {"beyond": 2**64 + 1, "negative": -(2**70)},
        {"none": None, "list": [None]},
        {1: "int key", 2.5: "float key", None: "none key"},
        {},
    ],
)
def test_json_dumps_writes_the_json_value_django_s_encoder_writes(value: dict[Any, Any]) -> None:
    text = json_dumps(value)
    assert isinstance(text, str)
    assert json.loads(text) == json.loads(DJANGO.encode(value))


def test_json_dumps_keeps_integers_beyond_64_bits_exact() -> None:
    assert json_loads(json_dumps({"n": 2**64 + 1})) == {"n": 2**64 + 1}


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_json_dumps_writes_non_finite_numbers_as_django_s_encoder_does(number: float) -> None:
    # Not JSON: PostgreSQL refuses them, as before; never a silent null.
    assert json_dumps({"x": number}) == DJANGO.encode({"x": number})
    assert "null" not in json_dumps({"x": number})


@pytest.mark.parametrize(
    "value",
    [{"s": {1, 2}}, {"b": b"bytes"}, {"k": dataclasses.make_dataclass("D", ["x"])(1)}],
)
def test_json_dumps_refuses_what_django_s_encoder_refuses(value: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        DJANGO.encode(value)
    with pytest.raises(TypeError):
        json_dumps(value)


@pytest.mark.django_db
def test_fetch_returns_rows_and_an_empty_list_for_a_statement_without_rows() -> None:
    assert fetch("SELECT 1, 'a'", []) == [(1, "a")]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE fetched (n integer)")
    assert fetch("INSERT INTO fetched (n) VALUES (%s)", [7]) == []
    assert fetch("SELECT n FROM fetched", []) == [(7,)]


@pytest.mark.django_db(transaction=True)
def test_fetch_works_again_after_django_closes_and_reopens_its_connection() -> None:
    assert fetch("SELECT 1", []) == [(1,)]
    connection.close()
    assert fetch("SELECT 2", []) == [(2,)]


@pytest.mark.django_db
def test_fetch_each_runs_its_statements_in_order_and_returns_each_one_s_rows() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE fetched (n integer)")

    found = fetch_each(
        ("INSERT INTO fetched (n) VALUES (%s)", [1]),
        ("SELECT count(*) FROM fetched", []),  # sees the statement before it
        ("INSERT INTO fetched (n) VALUES (%s), (%s)", [2, 3]),
        ("SELECT n FROM fetched ORDER BY n", []),
    )

    assert found == [[], [(1,)], [], [(1,), (2,), (3,)]]
    assert fetch_each(("SELECT 1", [])) == [[(1,)]]


@pytest.mark.django_db(transaction=True)
def test_fetch_each_stops_at_a_failing_statement_and_raises_django_s_error() -> None:
    """Outside a transaction the statements are one (implicit) transaction on PostgreSQL:
    what came before the failure is undone there; SQLite commits each as it goes."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE fetched_once (n integer PRIMARY KEY)")
    try:
        with pytest.raises(IntegrityError):
            fetch_each(
                ("INSERT INTO fetched_once (n) VALUES (%s)", [1]),
                ("INSERT INTO fetched_once (n) VALUES (%s)", [1]),
                ("INSERT INTO fetched_once (n) VALUES (%s)", [2]),
            )

        before = [] if connection.vendor == "postgresql" else [(1,)]
        assert fetch("SELECT n FROM fetched_once", []) == before
        assert fetch_each(("SELECT 1", []), ("SELECT 2", [])) == [[(1,)], [(2,)]]  # usable
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE fetched_once")
