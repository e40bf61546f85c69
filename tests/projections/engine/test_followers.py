"""Followers beyond projections: provided at run time, consuming a prefix of a batch, backing
off, taking every event type or one stream type, and running on a Celery queue of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.utils import timezone

from eventstore.models import Event
from eventstore.store import RecordedEvent
from projections.engine import followers, runner, wakeups
from projections.engine.generations import active_state
from projections.engine.models import ProjectionState
from projections.engine.tasks import catch_up
from tests.projections import builders as b
from tests.projections.engine.support import Recording, applied_positions, order_event_positions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def provide() -> Iterator[Callable[..., followers.Provider]]:
    """Register providers for the test; unregistered after it."""
    registered: list[followers.Provider] = []

    def provide(provider: followers.Provider, **kwargs: Any) -> followers.Provider:
        registered.append(followers.register_provider(provider, **kwargs))
        return provider

    yield provide
    for provider in registered:
        followers.unregister_provider(provider)


def all_positions() -> list[int]:
    return sorted(Event.objects.values_list("global_position", flat=True))


def test_provided_followers_are_run_from_the_log_start_and_dropped_with_their_provider(
    provide: Callable[..., followers.Provider], applied_table: str
) -> None:
    for n in range(3):
        b.append_new_order(customer_id=f"cust-{n}")
    rows = ["hook-1", "hook-2"]  # e.g. one follower per row of a table
    provider = provide(lambda: [Recording(name) for name in rows])

    read = catch_up()

    assert read["hook-1"] == read["hook-2"] == len(all_positions())
    assert applied_positions("hook-1") == applied_positions("hook-2") == order_event_positions()
    assert "hook-1" not in {f.name for f in followers.registered()}  # not a projection
    rows.remove("hook-2")
    b.append_new_order()
    assert set(catch_up()) == {*b.READ_MODEL_PROJECTIONS, "hook-1"}
    followers.unregister_provider(provider)
    with pytest.raises(LookupError):
        followers.get("hook-1")


class Prefix(Recording):
    """Consumes events up to (not including) ``stop_at``, then asks to wait a minute."""

    handles: ClassVar[frozenset[str] | None] = None  # every event type

    def __init__(self, name: str, stop_at: int) -> None:
        super().__init__(name)
        self.stop_at = stop_at
        self.batches: list[followers.Batch] = []

    def handle(self, events: Sequence[RecordedEvent], batch: followers.Batch) -> int | None:
        self.batches.append(batch)
        taken = [e for e in events if e.global_position < self.stop_at]
        super().handle(taken, batch)
        if len(taken) < len(events):
            batch.retry_at = timezone.now() + timedelta(minutes=1)
            return len(taken)
        return None


def test_a_follower_consuming_a_prefix_moves_its_checkpoint_only_past_it_and_backs_off(
    provide: Callable[..., followers.Provider], applied_table: str
) -> None:
    for n in range(6):
        b.append_new_order(customer_id=f"cust-{n}")
    positions = all_positions()
    stop_at = positions[3]
    follower = Prefix("prefix", stop_at)
    provide(lambda: [follower])

    assert runner.run("prefix") == 3  # the events before stop_at; then it waits
    assert applied_positions("prefix") == positions[:3]
    state = active_state("prefix")
    assert state.position == positions[2]
    assert state.events_applied == 3
    assert state.retry_at is not None and state.retry_at > timezone.now()
    assert runner.run("prefix") == 0  # backing off: not run before retry_at
    assert len(follower.batches) == 1

    follower.stop_at = positions[-1] + 1
    ProjectionState.objects.filter(pk=state.pk).update(retry_at=timezone.now())
    assert runner.run("prefix") == 3
    assert applied_positions("prefix") == positions
    assert not follower.batches[-1].continues  # the batch before was only partly consumed
    state.refresh_from_db()
    assert state.retry_at is None


class OfStreamType(Recording):
    handles: ClassVar[frozenset[str] | None] = None
    stream_types: ClassVar[frozenset[str] | None] = frozenset({"Customer"})


def test_a_follower_is_handed_only_its_stream_types_and_moves_past_the_rest(
    provide: Callable[..., followers.Provider], applied_table: str
) -> None:
    b.append_new_order()
    provide(lambda: [OfStreamType("customers")])

    assert runner.run("customers") == len(all_positions())
    assert applied_positions("customers") == []
    assert active_state("customers").position == all_positions()[-1]


class Slow(Recording):
    queue: ClassVar[str | None] = "slow-followers"


def test_a_follower_on_a_queue_of_its_own_is_run_by_that_queues_catch_up_only(
    provide: Callable[..., followers.Provider],
    applied_table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = Slow("slow")
    provide(lambda: [slow], queues=["slow-followers"])
    assert "slow-followers" in followers.queues()  # beside any other app's (integrations)
    b.append_new_order()

    assert "slow" not in catch_up(["order_views"])
    woken: list[str | None] = []
    monkeypatch.setattr(wakeups, "wake", lambda task, queue=None: woken.append(queue))
    assert "slow" not in catch_up()  # the default queue's catch-up wakes the slow queue
    assert "slow-followers" in woken and None not in woken
    assert applied_positions("slow") == []

    assert catch_up(queue="slow-followers") == {"slow": len(all_positions())}
    assert applied_positions("slow") == order_event_positions()
