"""The engine on SQLite (the embedded default): leases as on PostgreSQL (several statements),
plain tables, the ORM, polling. Every generation shares the model's own table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from django.db import connection, models

from common.db import fetch
from eventstore.store import Checkpoint
from projections.engine.backends.base import (
    ANY_SKIP,
    CLAIMABLE,
    RELEASE,
    RUNNABLE,
    SWAP_CHECKPOINT,
    EngineBackend,
    Lease,
    Row,
    Terms,
    Turn,
    adding_conflict,
    poll,
    swap_parameters,
)
from projections.engine.models import ProjectionState

_STATES: Final = ProjectionState._meta.db_table


class SQLiteBackend(EngineBackend):
    # One connection at a time writes or reads the file: nothing to overlap.
    reads_ahead = False
    writes_behind = False

    def claim(
        self, state: ProjectionState, owner: str, seconds: float, now: datetime | None
    ) -> Turn:
        # Leases by this machine's clock: SQLite is one machine's file (not the clock the tests
        # may freeze: the wall clock).
        wall = datetime.now(UTC)
        adapt = connection.ops.adapt_datetimefield_value
        claimed = fetch(
            f"UPDATE {_STATES} SET owner = %s, fencing = fencing + 1, "  # noqa: S608
            "lease_until = %s WHERE id = %s AND name = %s AND generation = %s AND shard = %s "
            f"AND {CLAIMABLE.format(now='%s')}{RUNNABLE if now else ''} RETURNING fencing",
            [
                owner,
                adapt(wall + timedelta(seconds=seconds)),
                state.pk,
                state.name,
                state.generation,
                state.shard,
                owner,
                adapt(wall),
                *([adapt(now)] if now else []),
            ],
        )
        any_skips = bool(fetch(ANY_SKIP, [state.name]))
        found = self.reload(state)
        if not claimed:
            return Turn(None, found, found and state.active, any_skips)
        return Turn(Lease(owner, claimed[0][0]), found, state.active, any_skips)

    def release(self, state: ProjectionState, lease: Lease) -> None:
        fetch(RELEASE, [state.pk, lease.owner, lease.fencing])

    def reload(self, state: ProjectionState) -> bool:
        try:
            state.refresh_from_db()
        except ProjectionState.DoesNotExist:
            return False
        return True

    def move_checkpoint(
        self,
        state: ProjectionState,
        lease: Lease,
        to: Checkpoint,
        *,
        applied: int,
        retry_at: datetime | None,
        now: datetime,
        seconds: float,
    ) -> bool:
        until = connection.ops.adapt_datetimefield_value(
            datetime.now(UTC) + timedelta(seconds=seconds)
        )
        parameters = swap_parameters(
            state, lease, to, applied=applied, retry_at=retry_at, now=now, until=until
        )
        return len(fetch(SWAP_CHECKPOINT.format(until="%s"), parameters)) == 1

    def wait_for_batches(self, condition: Callable[[], bool], deadline: float) -> bool:
        return poll(condition, deadline)

    # --- tables: one per model, shared by every generation ------------------------------
    def physical_table(self, model: type[models.Model], generation: int) -> str:
        return model._meta.db_table

    def create(
        self, tables: Sequence[type[models.Model]], generation: int, *, attach: bool
    ) -> None:
        self.drop(tables, generation)

    def attach(
        self,
        tables: Sequence[type[models.Model]],
        generation: int,
        meanwhile: Callable[[], None] = lambda: None,
    ) -> None:
        meanwhile()  # queries filter by generation: its rows were visible all along

    def drop(self, tables: Sequence[type[models.Model]], generation: int) -> None:
        for model in tables:
            model._default_manager.filter(generation=generation).delete()

    # --- rows through the ORM -------------------------------------------------------------
    def load(
        self,
        model: type[models.Model],
        generation: int,
        *,
        key: str,
        keys: list[Any],
        columns: Sequence[str],
        order_by: Sequence[str],
    ) -> list[Row]:
        rows = model._default_manager.filter(generation=generation, **{f"{key}__in": keys})
        return list(rows.order_by(*order_by).values(*columns))

    def delete(
        self, model: type[models.Model], generation: int, *, key: str, keys: list[Any]
    ) -> None:
        model._default_manager.filter(generation=generation, **{f"{key}__in": keys}).delete()

    def upsert(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        unique: Sequence[str],
        update: Sequence[str] | None,
    ) -> None:
        objects = [model(generation=generation, **row) for row in rows]
        if update is None:
            model._default_manager.bulk_create(objects)
            return
        model._default_manager.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["generation", *unique],
            update_fields=list(update),
        )

    def add(
        self,
        model: type[models.Model],
        generation: int,
        rows: Sequence[Row],
        *,
        key: str,
        sums: Sequence[str],
        latest: Sequence[str],
        terms: Terms | None = None,
    ) -> None:
        # No full text search here (the search's ``q`` is "contains" per word, and it counts
        # its matches): ``terms`` are not kept.
        # The ORM cannot add onto a conflicting row: the same ON CONFLICT as PostgreSQL's.
        table = model._meta.db_table
        names = [key, *sums, *latest]
        values: list[Any] = []
        for row in rows:
            values.append(generation)
            for name in names:
                field = model._meta.get_field(name)
                assert isinstance(field, models.Field)
                values.append(field.get_db_prep_value(row[name], connection, prepared=False))
        placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(names) + 1)) + ")"] * len(rows))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (generation, {', '.join(names)}) "  # noqa: S608
                f"VALUES {placeholders} {adding_conflict(table, key, sums, latest)}",
                values,
            )

    def takes_terms(self, model: type[models.Model], generation: int) -> bool:
        return False

    def recount_terms(
        self,
        model: type[models.Model],
        generation: int,
        *,
        source: type[models.Model],
        text: str,
        key: str,
        count: str,
    ) -> None:
        pass  # no full text search: no word counts (see ``add``)
