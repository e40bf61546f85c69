"""Python subscribers: functions that follow the log on the Celery workers, each a follower of
the core with its own checkpoint, retried, skipped or halted like a projection.

    from integrations.subscribers import subscriber

    @subscriber("shipping-emails", event_types=["OrderShipped"])
    def email_the_shipping_team(event: RecordedEvent) -> None:
        ...

A subscriber gets each event of its types once per commit of its checkpoint, in log order
(each stream in version order). What it writes to this service's database through Django
commits with its checkpoint: exactly once. What it does outside (an e-mail, a call to another
system) happens at least once: a worker killed after the effect and before the commit does
it again, so pass ``event.event_id`` to the other side as the idempotency key. An exception
fails the event: it is retried with backoff, then the subscriber stops there until an
operator retries or skips it (admin, Operations; or projection_retry / projection_skip).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eventstore.store import RecordedEvent

Handler = Callable[[RecordedEvent], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_types: frozenset[str]
    handler: Handler

    def handle(self, events: Iterable[RecordedEvent]) -> int:
        """Run the handler on the events of its types, in order; returns how many it got."""
        handled = 0
        for event in events:
            if event.event_type in self.event_types:
                self.handler(event)
                handled += 1
        return handled


_registry: dict[str, Subscriber] = {}


def subscriber(name: str, *, event_types: Iterable[str]) -> Callable[[Handler], Handler]:
    """Register the decorated function as the subscriber ``name`` to ``event_types``."""
    types = frozenset(event_types)
    if not types:
        raise ValueError(f"subscriber {name!r} names no event types")

    def register(handler: Handler) -> Handler:
        known = _registry.get(name)
        if known is not None and known.handler is not handler:
            raise ValueError(f"A subscriber named {name!r} is already registered")
        _registry[name] = Subscriber(name, types, handler)
        return handler

    return register


def all_subscribers() -> list[Subscriber]:
    return [_registry[name] for name in sorted(_registry)]


def get(name: str) -> Subscriber:
    return _registry[name]
