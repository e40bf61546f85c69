"""The toolkit's table backends, one per database; ``table_backend()`` picks this project's."""

from __future__ import annotations

from functools import cache
from typing import Final

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from projections.read_models.toolkit.backends.base import TableBackend
from projections.read_models.toolkit.backends.postgres import PostgresTables
from projections.read_models.toolkit.backends.sqlite import SQLiteTables

_BY_VENDOR: Final[dict[str, type[TableBackend]]] = {
    "postgresql": PostgresTables,
    "sqlite": SQLiteTables,
}


@cache
def table_backend() -> TableBackend:
    """The backend for the default database's engine (settings.DATABASES), chosen once."""
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if vendor not in _BY_VENDOR:
        raise ImproperlyConfigured(f"The read-model toolkit has no backend for {vendor!r}")
    return _BY_VENDOR[vendor]()
