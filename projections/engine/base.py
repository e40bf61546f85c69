"""What a projection is to the runner: a name, its event types, its tables, a batch apply."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

from django.db import models

from eventstore.store import Checkpoint, RecordedEvent


class Projection(ABC):
    """Turns batches of log events into rows of its own tables, for one generation at a time.

    ``apply`` runs inside the runner's transaction, together with the checkpoint move, so it
    must write only through the database connection (no side effects outside it).
    """

    name: ClassVar[str]
    handles: ClassVar[frozenset[str]]
    tables: ClassVar[tuple[type[models.Model], ...]]
    # False: the events handed to ``apply`` carry no metadata (the log read is cheaper).
    reads_metadata: ClassVar[bool] = True
    # True: ``fold`` does a batch's Python work apart from its writes, so that while catching
    # up the runner folds the next batch as this one's rows are written (write-behind,
    # projections.engine.throughput.WriteBehind).
    folds_ahead: ClassVar[bool] = False

    @abstractmethod
    def apply(self, events: Sequence[RecordedEvent], generation: int) -> None:
        """Apply ``events`` (already filtered to ``handles``, in log order) to ``generation``."""

    def batch_starting(  # noqa: B027 - an optional hook
        self, generation: int, after: Checkpoint, to: Checkpoint
    ) -> None:
        """Called in each batch's transaction before ``apply``: the batch moves the checkpoint
        from ``after`` to ``to``. A projection that keeps state between batches checks here
        that nobody else has moved the checkpoint since (see projections.folding.StateCache).
        """

    def fold(
        self,
        events: Sequence[RecordedEvent],
        generation: int,
        after: Checkpoint,
        to: Checkpoint,
        *,
        settle: Callable[[], None],
    ) -> Callable[[], None]:
        """Write-behind (``folds_ahead``): do the Python part of applying ``events`` (the
        batch from ``after`` to ``to``) now, outside any transaction, and return its writes.

        The batches before may still be being written: call ``settle`` (it waits for them,
        and raises if one failed) before reading this projection's rows. The writes run
        later in the batch's transaction, on another thread's connection, so they must use
        only values computed here. ``batch_starting`` is not called for such a batch. If the
        batch (or one before it) does not commit, the runner calls ``abandon``.
        """
        raise NotImplementedError

    def abandon(self, generation: int) -> None:  # noqa: B027 - an optional hook
        """Batches folded by ``fold`` did not all commit: forget what was folded ahead."""

    def caught_up(self, generation: int) -> None:  # noqa: B027 - an optional hook
        """A rebuilt ``generation`` has caught up; its tables are attached right after (it
        takes the last events then). In a transaction, while their indexes are built: what a
        projection leaves of a rebuild to one pass at the end (rather than every batch) is
        done here."""


_registry: dict[str, Projection] = {}


def register(projection: Projection) -> Projection:
    if projection.name in _registry and _registry[projection.name] is not projection:
        raise ValueError(f"A projection named {projection.name!r} is already registered")
    _registry[projection.name] = projection
    return projection


def unregister(name: str) -> None:
    _registry.pop(name, None)


def get(name: str) -> Projection:
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none"
        raise LookupError(f"No projection named {name!r} (known: {known})") from None


def all_projections() -> list[Projection]:
    """By name (how they are listed)."""
    return [_registry[name] for name in sorted(_registry)]


def in_turn_order() -> list[Projection]:
    """In the order they were registered: the order a catch-up gives them their turns."""
    return list(_registry.values())
