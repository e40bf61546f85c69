"""The event store's backends, one per database; ``backend()`` picks this project's once."""

from __future__ import annotations

from functools import cache
from typing import Final

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from eventstore.backends.base import EventStoreBackend
from eventstore.backends.postgres import PostgresBackend
from eventstore.backends.sqlite import SQLiteBackend

_BY_VENDOR: Final[dict[str, type[EventStoreBackend]]] = {
    "postgresql": PostgresBackend,
    "sqlite": SQLiteBackend,
}


@cache
def backend() -> EventStoreBackend:
    """The backend for the default database's engine (settings.DATABASES), chosen once."""
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if vendor not in _BY_VENDOR:
        raise ImproperlyConfigured(f"The event store has no backend for {vendor!r} databases")
    return _BY_VENDOR[vendor]()
