"""Generations of a projection: the one queries read, the first, a new one for a rebuild, the
switch, and the purge of retired ones.

Every registered projection has generation 1 from the moment the database is migrated (a
``post_migrate`` receiver creates it; see docs/decisions.md), so reading which generation is
active never writes anything. A rebuild fills generation N+1 while N serves, then switches;
N is retired and its rows are dropped after a grace period.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from common.db import fetch
from projections.engine import base
from projections.engine.backends import backend
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


def active_state(name: str) -> ProjectionState:
    """The state of ``name``'s active generation. Reads only; GenerationMissing if none."""
    base.get(name)
    state = ProjectionState.objects.filter(name=name, active=True).first()
    if state is None:
        raise GenerationMissing(name)
    return state


def rebuilding_state(name: str) -> ProjectionState | None:
    """The generation a rebuild is filling (or stopped in), if any."""
    return (
        ProjectionState.objects.filter(name=name, active=False)
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
    for projection in base.all_projections():
        create_first_generation(projection.name)


def create_first_generation(name: str) -> None:
    """Generation 1 of ``name`` (active, fresh tables) unless it has a generation already."""
    tables = base.get(name).tables
    if ProjectionState.objects.filter(name=name).exists():
        return
    try:
        with transaction.atomic():
            ProjectionState.objects.create(name=name, generation=1, active=True)
            backend().create(tables, 1, attach=True)
    except IntegrityError:
        pass  # another process created it meanwhile (the state's unique key settled it)


def start_rebuild(name: str) -> ProjectionState:
    """The generation being rebuilt: resumed if a rebuild was interrupted, else a new one."""
    active_state(name)  # a rebuild replaces the active generation
    pending = rebuilding_state(name)
    if pending is not None:
        return pending
    with transaction.atomic():
        top = ProjectionState.objects.filter(name=name).aggregate(top=Max("generation"))["top"]
        state = ProjectionState.objects.create(
            name=name, generation=top + 1, status=ProjectionStatus.REBUILDING
        )
        # Detached until caught up: no index but the unique keys to maintain meanwhile.
        backend().create(base.get(name).tables, state.generation, attach=False)
        return state


def attach(state: ProjectionState) -> None:
    """Make a rebuilt generation's tables visible to queries (this builds their indexes), once
    the projection has finished what it leaves to the end of a rebuild (``caught_up``, in a
    transaction, while the indexes are built)."""
    projection = base.get(state.name)

    def caught_up() -> None:
        with transaction.atomic():
            projection.caught_up(state.generation)

    backend().attach(projection.tables, state.generation, meanwhile=caught_up)


def switch(live: ProjectionState, target: ProjectionState) -> None:
    """Queries read ``target`` from now on; ``live`` is retired (its rows kept for a while)."""
    with transaction.atomic():
        ProjectionState.objects.filter(pk=live.pk).update(
            active=False, status=ProjectionStatus.RETIRED, updated_at=timezone.now()
        )
        ProjectionState.objects.filter(pk=target.pk).update(
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
    for state in retired:
        backend().drop(base.get(state.name).tables, state.generation)
        state.delete()
        purged += 1
    return purged
