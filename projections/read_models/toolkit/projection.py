"""A projection: a follower that keeps its results in tables, one set of rows per generation."""

from __future__ import annotations

from typing import ClassVar

from django.db import models, transaction

from projections.engine.followers import Follower
from projections.read_models.toolkit.backends import table_backend


class Projection(Follower):
    """A follower whose ``handle`` writes the rows of its ``tables`` for ``batch.generation``.

    Each generation has its own rows (projections.read_models.toolkit.backends: a partition per
    generation on PostgreSQL); a rebuild fills a new generation's, detached from queries,
    and attaches them once caught up.
    """

    tables: ClassVar[tuple[type[models.Model], ...]]

    def create_generation(self, generation: int, *, serving: bool) -> None:
        # A rebuild's are detached until caught up: no index but the unique keys meanwhile.
        table_backend().create(self.tables, generation, attach=serving)

    def attach_generation(self, generation: int) -> None:
        def caught_up() -> None:
            with transaction.atomic():
                self.caught_up(generation)

        table_backend().attach(self.tables, generation, meanwhile=caught_up)

    def drop_generation(self, generation: int) -> None:
        table_backend().drop(self.tables, generation)

    def caught_up(self, generation: int) -> None:
        """A rebuilt ``generation`` has caught up; its tables are attached right after (it
        takes the last events then). In a transaction, while their indexes are built: what a
        projection leaves of a rebuild to one pass at the end (rather than every batch) is
        done here."""
