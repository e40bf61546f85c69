"""The engine's backends, one per database; ``backend()`` picks this project's once."""

from __future__ import annotations

from functools import cache
from typing import Final

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from projections.engine.backends.base import EngineBackend
from projections.engine.backends.postgres import PostgresBackend
from projections.engine.backends.sqlite import SQLiteBackend

_BY_VENDOR: Final[dict[str, type[EngineBackend]]] = {
    "postgresql": PostgresBackend,
    "sqlite": SQLiteBackend,
}


@cache
def backend() -> EngineBackend:
    """The backend for the default database's engine (settings.DATABASES), chosen once."""
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if vendor not in _BY_VENDOR:
        raise ImproperlyConfigured(f"The projection engine has no backend for {vendor!r}")
    return _BY_VENDOR[vendor]()
