"""How many shards each projection has: what it declares (``Projection.shards``), unless the
environment says otherwise (settings.PROJECTION_SHARDS, e.g. ``order_views=4``).

A count is a power of two up to eventstore.store.BUCKETS, so that one order's events are all in
one shard and halving or doubling the count nests the shards. On SQLite every projection is one
shard (its writers are serialized and the embedded default runs one process). Changing a
projection's count is a rebuild into a new generation (its checkpoints are per shard).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from eventstore.store import BUCKETS, Shard, valid_shard_count
from projections.engine import base


def declared(projection: base.Projection) -> int:
    """The count ``projection`` declares in code (1 unless it says more)."""
    return int(getattr(projection, "shards", 1))


def shard_count(name: str) -> int:
    """How many shards projection ``name`` runs as here."""
    if connection.vendor != "postgresql":
        return 1
    configured = settings.PROJECTION_SHARDS.get(name)
    return configured if configured is not None else declared(base.get(name))


def shards_of(name: str) -> list[Shard]:
    """Projection ``name``'s shards, by index."""
    count = shard_count(name)
    return [Shard(index, count) for index in range(count)]


def check_configuration() -> None:
    """Refuse to start with a shard count that is not a power of two up to BUCKETS, or one set
    for a projection that does not exist (a typo would silently leave it at 1)."""
    known = {p.name: p for p in base.all_projections()}
    problems = []
    for name, count in sorted(settings.PROJECTION_SHARDS.items()):
        if name not in known:
            problems.append(f"{name!r} is no projection (known: {', '.join(sorted(known))})")
        elif not valid_shard_count(count):
            problems.append(f"{name}={count}: not a power of two from 1 to {BUCKETS}")
    for name, projection in known.items():
        if not valid_shard_count(declared(projection)):
            problems.append(
                f"{name} declares {declared(projection)} shards: not a power of two "
                f"from 1 to {BUCKETS}"
            )
    if problems:
        raise ImproperlyConfigured("PROJECTION_SHARDS: " + "; ".join(problems))
