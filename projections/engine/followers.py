"""What the engine runs: followers, named cursors over the log, and where they are registered.

A follower is handed batches of log events, in an order safe to checkpoint, by ONE method
(``handle``) called in the batch's transaction; the engine moves the follower's checkpoint in
that same transaction. Claiming the work (a lease), reading, retrying, isolating a poison
event, the operator's retry and skip, wake-ups and read-your-writes are the engine's, for
every follower alike. A projection (projections.read_models.toolkit) is a follower with tables.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings

from eventstore.store import Checkpoint, RecordedEvent, Shard

if TYPE_CHECKING:
    from projections.engine.strategies import Strategy


class Follower(ABC):
    """A named cursor over the log, keyed by (name, generation, shard).

    ``handle`` gets each batch's events (filtered by ``handles`` and ``stream_types``, in
    checkpoint order) inside the batch's transaction, which also moves the checkpoint past
    what it consumed: it must write only through the database connection (no side effect
    outside it), and whatever it writes commits with the checkpoint move or not at all.
    """

    name: ClassVar[str]
    # The event types it is given (None: all of them), and the stream types (None: all).
    handles: ClassVar[frozenset[str] | None] = None
    stream_types: ClassVar[frozenset[str] | None] = None
    # False: the events carry no metadata (the log read is cheaper).
    reads_metadata: ClassVar[bool] = True
    # The Celery queue its catch-up runs on (None: the default one, with the projections): a
    # slow follower on a queue of its own never delays the others.
    queue: ClassVar[str | None] = None
    # Events per batch, caught up or not (None: PROJECTION_BATCH_SIZE, growing to
    # PROJECTION_CATCHUP_BATCH_SIZE while catching up). A batch must end well within the lease
    # (PROJECTION_LEASE_SECONDS): a follower whose events are slow to handle reads fewer.
    batch_size: ClassVar[int | None] = None
    # How many shards apply it at once (each its own cursor, checkpoint and lease).
    shards: ClassVar[int] = 1
    # True: each of its shards also reads every forget record of the log (the event
    # eventstore.store.forget_subject appends), wherever its stream is: for a follower that
    # scrubs a forgotten subject's data from what each shard wrote and keeps.
    every_shard_reads_forgets: ClassVar[bool] = False
    # How batches are read and applied (projections.engine.strategies): in place by default;
    # ``Pipelined`` reads the next batch ahead and writes a batch behind while catching up.
    strategy: ClassVar[type[Strategy] | None] = None

    @abstractmethod
    def handle(self, events: Sequence[RecordedEvent], batch: Batch) -> int | None:
        """Apply ``events`` (never empty) to ``batch.generation``; return how many of them,
        from the first, were consumed (None: all). The checkpoint moves only past those; a
        follower that consumed fewer usually also sets ``batch.retry_at`` (its backoff)."""

    # --- generations: what a follower keeps per generation (a projection's tables) ----------
    def create_generation(self, generation: int, *, serving: bool) -> None:  # noqa: B027
        """A new ``generation`` begins (empty): serving queries at once, or (a rebuild's) only
        once ``attach_generation`` is called."""

    def attach_generation(self, generation: int) -> None:  # noqa: B027
        """A rebuilt ``generation`` has caught up: make it ready to serve (it takes the last
        events and the switch right after)."""

    def drop_generation(self, generation: int) -> None:  # noqa: B027
        """A retired ``generation``: remove what it kept."""


@dataclass(eq=False)
class Batch:
    """One batch of a follower's events, what ``handle`` gets beside them.

    ``continues`` is True when this worker handed the follower the batch that ended at
    ``after`` and nothing of it has been lost (rolled back, or only a part consumed): state a
    follower kept from its last batches in memory is current. Set ``retry_at`` to be run
    again no earlier than then (committed with the batch).
    """

    name: str
    generation: int
    shard: int
    after: Checkpoint
    to: Checkpoint
    continues: bool
    shards: int = 1  # how many shards the generation has (``shard`` is this one's index)
    retry_at: datetime | None = None
    # Write-behind (strategies.Pipelined) only: ``handle`` runs before the transaction, its
    # writes are deferred into it, and reading the follower's rows waits for the batches before.
    deferred: list[Callable[[], None]] | None = None
    settle: Callable[[], None] = field(default=lambda: None)

    def write(self, statements: Callable[[], None]) -> None:
        """Run ``statements`` in this batch's transaction: at once when ``handle`` runs inside
        it, else (written behind) when the batch commits, on another connection. A follower
        whose ``strategy`` is Pipelined writes only through this (and reads its rows only
        after ``settle()``)."""
        if self.deferred is None:
            statements()
        else:
            self.deferred.append(statements)


def log_part(follower: Follower, index: int, count: int) -> Shard:
    """What shard ``index`` of ``count`` of ``follower`` reads of the log."""
    return Shard(index, count, forgets=follower.every_shard_reads_forgets)


def shard_count(follower: Follower) -> int:
    """How many shards a new generation of ``follower`` gets: what the environment says
    (settings.PROJECTION_SHARDS, checked at start-up by projections.engine.sharding), else what
    the follower declares. One on SQLite (serialized writers, the embedded single process).
    A generation keeps the count it was made with (ProjectionState.shards): a new count takes
    effect with the next rebuild."""
    from projections.engine.backends import backend  # the backends import this module

    if not backend().runs_shards:
        return 1
    configured = settings.PROJECTION_SHARDS.get(follower.name)
    return int(configured) if configured is not None else follower.shards


Provider = Callable[[], Iterable[Follower]]

_registry: dict[str, Follower] = {}
_providers: dict[Provider, frozenset[str]] = {}


def register(follower: Follower) -> Follower:
    """Run ``follower`` (a static one: listed by the status, created with the database)."""
    if follower.name in _registry and _registry[follower.name] is not follower:
        raise ValueError(f"A follower named {follower.name!r} is already registered")
    _registry[follower.name] = follower
    return follower


def unregister(name: str) -> None:
    _registry.pop(name, None)


def register_provider(provider: Provider, *, queues: Iterable[str] = ()) -> Provider:
    """Also run the followers ``provider()`` returns each time the engine looks (e.g. one per
    row of a table); ``queues`` are the Celery queues they may name (woken with the others)."""
    _providers[provider] = frozenset(queues)
    return provider


def unregister_provider(provider: Provider) -> None:
    _providers.pop(provider, None)


def provided() -> list[Follower]:
    return [follower for provider in list(_providers) for follower in provider()]


def get(name: str) -> Follower:
    follower = _registry.get(name)
    if follower is not None:
        return follower
    for other in provided():
        if other.name == name:
            return other
    known = ", ".join(sorted(_registry)) or "none"
    raise LookupError(f"No projection or follower named {name!r} (known: {known})")


def registered() -> list[Follower]:
    """The statically registered followers (the projections), by name: what the status lists."""
    return [_registry[name] for name in sorted(_registry)]


def in_turn_order(queue: str | None = None) -> list[Follower]:
    """Every follower of ``queue`` in the order a catch-up gives them turns: the registered
    ones in the order they were registered, then the provided ones."""
    return [f for f in [*_registry.values(), *provided()] if f.queue == queue]


def queues() -> set[str]:
    """The Celery queues other than the default one that followers run on."""
    named = {f.queue for f in _registry.values() if f.queue is not None}
    return named.union(*_providers.values())
