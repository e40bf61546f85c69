"""Reads of query endpoints on a read replica (DATABASE_REPLICA_URL), everything else on the
primary.

``ReplicaRouter`` (settings.DATABASE_ROUTERS) sends the ORM's reads to the ``replica``
database only inside ``replica_reads()``, which the query views (common.http.queries) open
around their wait and their read. Commands, the engine, the back office's writes and every
read outside a query endpoint stay on ``default``: nothing that decides or writes ever reads
a lagging copy. Without a replica configured the router sends everything to ``default``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA: Final = "replica"

_reading: ContextVar[bool] = ContextVar("replica_reads", default=False)


def has_replica() -> bool:
    return REPLICA in connections.settings


@contextmanager
def replica_reads() -> Iterator[None]:
    """Inside, the ORM's reads go to the replica (if one is configured)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reading_replica() -> bool:
    """Whether reads here go to the replica: inside ``replica_reads()`` with one configured."""
    return _reading.get() and has_replica()


def read_alias() -> str:
    """The database alias a query's read uses here."""
    return REPLICA if reading_replica() else DEFAULT_DB_ALIAS


class ReplicaRouter:
    """Query endpoints' reads to the replica; all writes, migrations and other reads to the
    primary."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return REPLICA if reading_replica() else DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # one database: the replica is a copy of the primary

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db == DEFAULT_DB_ALIAS
