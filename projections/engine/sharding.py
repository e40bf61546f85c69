"""Shard counts checked at start-up: PROJECTION_SHARDS (e.g. ``order_views=4``) and what each
follower declares (``Follower.shards``) must be powers of two up to eventstore.store.BUCKETS,
so that one order's events are all in one shard and halving or doubling a count nests the
shards; a count set for no registered projection is refused (a typo would leave it at 1).

How many shards a new generation gets: projections.engine.followers.shard_count. A generation
keeps its count (ProjectionState.shards); changing it is a rebuild into a new generation.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from eventstore.store import BUCKETS, valid_shard_count
from projections.engine import followers


def check_configuration() -> None:
    """Raise ImproperlyConfigured, naming every problem, if a shard count is not valid."""
    known = {f.name: f for f in followers.registered()}
    problems = []
    for name, count in sorted(settings.PROJECTION_SHARDS.items()):
        if name not in known:
            problems.append(f"{name!r} is no projection (known: {', '.join(sorted(known))})")
        elif not valid_shard_count(count):
            problems.append(f"{name}={count}: not a power of two from 1 to {BUCKETS}")
    for name, follower in known.items():
        if not valid_shard_count(follower.shards):
            problems.append(
                f"{name} declares {follower.shards} shards: not a power of two from 1 to {BUCKETS}"
            )
    if problems:
        raise ImproperlyConfigured("PROJECTION_SHARDS: " + "; ".join(problems))
