"""One engine backend per database, chosen once; the rest of the engine never asks which."""

from __future__ import annotations

from pathlib import Path

from django.db import connection

from projections.engine.backends import backend
from projections.engine.backends.postgres import PostgresBackend
from projections.engine.backends.sqlite import SQLiteBackend

ENGINE = Path(__file__).resolve().parents[4] / "projections" / "engine"
# Asking the connection, or reaching past backend() for one database's implementation.
ASKING = (".vendor", "_is_postgres", "backends.postgres", "backends.sqlite")


def test_the_backend_is_the_databases_and_is_chosen_once() -> None:
    expected = PostgresBackend if connection.vendor == "postgresql" else SQLiteBackend
    assert type(backend()) is expected
    assert backend() is backend()


def test_no_engine_module_outside_the_backends_asks_which_database_it_is_on() -> None:
    asking = [
        str(path.relative_to(ENGINE))
        for path in ENGINE.rglob("*.py")
        if "backends" not in path.parts and any(word in path.read_text() for word in ASKING)
    ]
    assert asking == []
