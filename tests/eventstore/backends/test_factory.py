"""The backend factory: one backend per database, chosen once; nothing else asks the database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from eventstore.backends import backend
from eventstore.backends.postgres import PostgresBackend
from eventstore.backends.sqlite import SQLiteBackend

EVENTSTORE = Path(__file__).resolve().parents[3] / "eventstore"


@pytest.fixture
def fresh_choice() -> Iterator[None]:
    backend.cache_clear()
    yield
    backend.cache_clear()


def test_the_backend_is_the_one_for_the_configured_database() -> None:
    expected = {"postgresql": PostgresBackend, "sqlite": SQLiteBackend}
    assert type(backend()) is expected[connections[DEFAULT_DB_ALIAS].vendor]


def test_the_backend_is_chosen_once() -> None:
    assert backend() is backend()


def test_a_database_without_a_backend_is_refused_clearly(
    fresh_choice: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "vendor", "oracle")
    with pytest.raises(ImproperlyConfigured, match="no backend for 'oracle'"):
        backend()


def test_nothing_in_the_event_store_outside_its_backends_asks_which_database_it_is_on() -> None:
    asks = re.compile(r"\bvendor\b|_is_postgres|_is_sqlite")
    offenders = [
        str(path.relative_to(EVENTSTORE))
        for path in EVENTSTORE.rglob("*.py")
        if not {"backends", "migrations"} & set(path.relative_to(EVENTSTORE).parts)
        and asks.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
