"""Generations of a follower: the one queries read, the first, a new one for a rebuild, the
switch, and the purge of retired ones. Each generation has one cursor per shard.

Every registered follower has generation 1 from the moment the database is migrated (a
``post_migrate`` receiver creates it; see docs/decisions.md), so reading which generation is
active never writes anything; a provided one (followers.register_provider) gets it at its
first turn, or when its owner calls ``create_first_generation``. A rebuild fills generation
N+1 while N serves, then switches; N is retired and what it kept (a projection's rows) is
dropped after a grace period. What a generation keeps is the follower's (its generation
hooks): the engine knows no tables.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from common.db import fetch
from eventstore.store import Checkpoint
from projections.engine import followers as base
from projections.engine.followers import shard_count
from projections.engine.models import ProjectionState, ProjectionStatus


class GenerationMissing(LookupError):
    """A registered projection without an active generation: the database is not migrated."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Projection {name!r} has no active generation: run `manage.py migrate`, which "
            "creates generation 1 of every registered projection."
        )
        self.name = name


def active_generation(name: str) -> int:
    """The generation of ``name`` that queries read. Reads only; GenerationMissing if none.

    Always asked of the database: the catch-up loop's per-process memory of it
    (projections.engine.runner) is a hint for writers and never answers a reader.
    """
    return active_state(name).generation


def active_state(name: str, shard: int = 0) -> ProjectionState:
    """The state of ``name``'s active generation (of ``shard``). Reads only; GenerationMissing
    if none."""
    base.get(name)
    state = ProjectionState.objects.filter(name=name, shard=shard, active=True).first()
    if state is None:
        raise GenerationMissing(name)
    return state


def rebuilding_state(name: str, shard: int = 0) -> ProjectionState | None:
    """The generation a rebuild is filling (or stopped in), if any (its cursor of ``shard``)."""
    return (
        ProjectionState.objects.filter(name=name, shard=shard, active=False)
        .exclude(status=ProjectionStatus.RETIRED)
        .order_by("-generation")
        .first()
    )


def create_first_generations(using: str = DEFAULT_DB_ALIAS, **signal: Any) -> None:
    """``post_migrate`` receiver: every registered projection without any generation gets
    generation 1, active, empty, at the log's start.

    Also after each flush of Django's transactional tests, which empties the tables and sends
    ``post_migrate`` again.
    """
    if using != DEFAULT_DB_ALIAS:
        return  # the engine keeps its projections in the default database only
    if ProjectionState._meta.db_table not in connection.introspection.table_names():
        return  # migrated back to before the engine's tables
    for follower in base.registered():
        create_first_generation(follower.name)


def create_first_generation(name: str, start: Checkpoint | None = None) -> None:
    """Generation 1 of ``name`` (active, one cursor per shard at ``start``: the log's start by
    default; fresh tables for a projection) unless it has a generation already."""
    follower = base.get(name)
    if ProjectionState.objects.filter(name=name).exists():
        return
    at = start or Checkpoint()
    try:
        with transaction.atomic():
            for shard in range(shard_count(follower)):
                ProjectionState.objects.create(
                    name=name,
                    generation=1,
                    shard=shard,
                    active=True,
                    tx_id=at.tx_id,
                    position=at.position,
                )
            follower.create_generation(1, serving=True)
    except IntegrityError:
        pass  # another process created it meanwhile (the state's unique key settled it)


def start_rebuild(name: str) -> ProjectionState:
    """The generation being rebuilt (its first shard's cursor; one is made per shard):
    resumed if a rebuild was interrupted, else a new one."""
    active_state(name)  # a rebuild replaces the active generation
    follower = base.get(name)
    pending = rebuilding_state(name)
    if pending is not None:
        return pending
    with transaction.atomic():
        top = ProjectionState.objects.filter(name=name).aggregate(top=Max("generation"))["top"]
        states = [
            ProjectionState.objects.create(
                name=name, generation=top + 1, shard=shard, status=ProjectionStatus.REBUILDING
            )
            for shard in range(shard_count(follower))
        ]
        follower.create_generation(top + 1, serving=False)
        return states[0]


def attach(state: ProjectionState) -> None:
    """Make a rebuilt generation ready to serve (a projection's tables: their indexes built)."""
    base.get(state.name).attach_generation(state.generation)


def switch(live: ProjectionState, target: ProjectionState) -> None:
    """Queries read ``target``'s generation from now on (every shard's cursor); ``live``'s is
    retired (its rows kept for a while)."""
    with transaction.atomic():
        ProjectionState.objects.filter(name=live.name, generation=live.generation).update(
            active=False, status=ProjectionStatus.RETIRED, updated_at=timezone.now()
        )
        ProjectionState.objects.filter(name=target.name, generation=target.generation).update(
            active=True, status=ProjectionStatus.RUNNING
        )


_STATES: Final = ProjectionState._meta.db_table
_ANY_RETIRED: Final = f"SELECT 1 FROM {_STATES} WHERE status = %s LIMIT 1"  # noqa: S608


def purge_retired(grace: timedelta | None = None) -> int:
    """Drop the rows of generations retired longer ago than ``grace``; returns how many.

    Queries read the active generation's number and then its rows in separate statements, so
    a retired generation keeps its rows for a grace period instead of vanishing under them.
    """
    # Every catch-up ends here and there is hardly ever a retired generation: a prepared
    # statement says whether to ask the ORM (~0.3 ms of CPU even for no rows).
    if not fetch(_ANY_RETIRED, [ProjectionStatus.RETIRED.value]):
        return 0
    if grace is None:
        grace = timedelta(seconds=settings.PROJECTION_RETIRED_GRACE_SECONDS)
    retired = ProjectionState.objects.filter(
        status=ProjectionStatus.RETIRED, updated_at__lt=timezone.now() - grace
    )
    purged = 0
    for name, generation in sorted({(s.name, s.generation) for s in retired}):
        try:
            follower = base.get(name)
        except LookupError:
            pass  # a provided follower gone since: it kept nothing the engine knows of
        else:
            follower.drop_generation(generation)
        ProjectionState.objects.filter(name=name, generation=generation).delete()
        purged += 1
    return purged
