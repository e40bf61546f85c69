"""Webhooks delivered by a real Celery worker that is SIGKILLed at random, to two real local
receivers that verify every delivery with ``standardwebhooks``, one of them down for 20 s.

2,000 events are appended to 200 streams in random interleaving while the integrations worker
(``-Q integrations --pool=threads``, as production runs it) is killed every few seconds and
replaced, as a supervisor would. Then: every event reached both receivers; an event reached a
receiver twice only across a kill (a worker killed after the receiver answered and before
its batch committed); each receiver got each stream's events in version order, none skipped
(a repeat only after a kill); the receiver that was down caught up within the backoff in
force when it came back; and the healthy one never waited for it.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from eventstore.store import append_to_stream
from integrations import services
from integrations.followers import backoff_seconds
from integrations.models import Delivery
from tests.eventstore.support import an_event
from tests.faults.processes import PostgresServer, Process, Processes
from tests.integrations.receiver import Receiver, receiving
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

STREAMS = 200
PER_STREAM = 10
EVENTS = STREAMS * PER_STREAM
WRITE_SECONDS = 30.0
DOWN_AT, DOWN_FOR = 4.0, 20.0
LEASE_SECONDS = 5.0
SWEEP_SECONDS = 1.0
# A worker is killed this long after it started delivering (a new one takes seconds to start).
KILL_AFTER = (1.5, 4.0)
KILLS = 4


class Writer(threading.Thread):
    """Appends the events, one per transaction, streams interleaved at random; notes when
    each was committed."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.committed: dict[str, float] = {}
        self.version_of: dict[str, tuple[str, int]] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(19)
        order = [s for s in range(STREAMS) for _ in range(PER_STREAM)]
        rng.shuffle(order)
        streams = [f"thing-{uuid.uuid4()}" for _ in range(STREAMS)]
        versions = [0] * STREAMS
        pause = WRITE_SECONDS / EVENTS
        try:
            for index in order:
                versions[index] += 1
                event = an_event("ThingHappened", n=versions[index])
                append_to_stream(
                    streams[index], "Thing", [event], expected_version=versions[index] - 1
                )
                key = str(event.event_id)
                self.committed[key] = time.monotonic()
                self.version_of[key] = (streams[index], versions[index])
                time.sleep(pause)
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


def kill_between(kills: list[float], first: float, last: float) -> bool:
    return any(first <= k <= last for k in kills)


def check_receiver(
    receiver: Receiver, writer: Writer, kills: list[float], label: str
) -> tuple[int, int]:
    """Every event once or more, repeats only across kills, each stream in version order
    with no event skipped (going back only after a kill). Returns (receipts, repeats)."""
    received = list(receiver.received)
    assert receiver.refused == [], (f"{label}: signatures that did not verify", receiver.refusals)
    ids = Counter(r.webhook_id for r in received)
    assert set(ids) == set(writer.committed), f"{label}: events missing or foreign"
    times: dict[str, list[float]] = {}
    for r in received:
        times.setdefault(r.webhook_id, []).append(r.at)
    for key, count in ids.items():
        if count > 1:
            assert kill_between(kills, times[key][0], times[key][-1]), (
                f"{label}: event {key} delivered {count} times with no kill in between"
            )
    highest: dict[str, tuple[int, float]] = {}
    for r in received:
        stream, version = writer.version_of[r.webhook_id]
        top, at = highest.get(stream, (0, 0.0))
        if version == top + 1:
            highest[stream] = (version, r.at)
        else:
            assert version <= top, f"{label}: {stream} skipped from {top} to {version}"
            assert kill_between(kills, at, r.at), (
                f"{label}: {stream} went back to {version} after {top} with no kill"
            )
    return len(received), len(received) - len(ids)


def test_webhooks_survive_worker_kills_and_a_receiver_down_for_20_s(
    processes: Processes,
    private_database: PostgresServer,
    figure: Callable[[str], None],
    settings: Any,
) -> None:
    # A private server: the log is read gap-safe, below the oldest transaction of the whole
    # server, and other suites' long transactions on a shared one would hold every delivery.
    broker = processes.redis()
    env = processes.env(
        broker_url=broker.url,
        WEBHOOKS_ALLOW_HTTP="true",
        WEBHOOKS_ALLOW_PRIVATE="true",
        PROJECTION_LEASE_SECONDS=str(LEASE_SECONDS),
        PROJECTION_SWEEP_SECONDS=str(SWEEP_SECONDS),
    )
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with receiving() as healthy, receiving() as flaky:
        for receiver in (healthy, flaky):
            created = services.webhook_create(url=receiver.url, description=f"r{receiver.port}")
            receiver.secret = created.secret
        processes.worker(env, "projections", "--pool=solo")
        processes.beat(env)
        numbers = itertools.count()

        def start_worker() -> Process:
            return processes.worker(
                env,
                f"hooks-{next(numbers)}",
                "-Q",
                "integrations",
                "--pool=threads",
                "--concurrency=4",
            )

        worker = start_worker()
        writer = Writer()
        started = time.monotonic()
        writer.start()
        kills: list[float] = []
        down = up = 0.0
        rng = random.Random(7)

        def asked() -> int:
            return len(healthy.requests) + len(flaky.requests)

        baseline, next_kill = asked(), float("inf")
        deadline = started + 120
        while time.monotonic() < deadline and (
            writer.is_alive()
            or time.monotonic() < started + DOWN_AT + DOWN_FOR + 2
            or len(kills) < KILLS
        ):
            now = time.monotonic()
            if next_kill == float("inf") and asked() > baseline:  # the new worker delivers
                next_kill = now + rng.uniform(*KILL_AFTER)
            if not down and now >= started + DOWN_AT:
                flaky.stop()
                down = time.monotonic()
            if down and not up and now >= down + DOWN_FOR:
                flaky.start()
                up = time.monotonic()
            if now >= next_kill:
                worker.kill()
                kills.append(time.monotonic())
                worker = start_worker()
                baseline, next_kill = asked(), float("inf")
            time.sleep(0.05)
        writer.join(timeout=60)
        assert writer.error is None, writer.error
        assert len(writer.committed) == EVENTS

        def everything_delivered() -> bool:
            return all(
                set(writer.committed) <= {r.webhook_id for r in list(receiver.received)}
                for receiver in (healthy, flaky)
            )

        wait_until(everything_delivered, timeout=180, interval=0.2, what="every delivery")
        done = time.monotonic()

    healthy_count, healthy_repeats = check_receiver(healthy, writer, kills, "healthy")
    flaky_count, flaky_repeats = check_receiver(flaky, writer, kills, "flaky")

    # The receiver that was down: its first delivery after coming back came within the backoff
    # in force then (plus a lease, should a killed worker have held it, and a sweep).
    failed = Delivery.objects.filter(webhook__url=flaky.url).exclude(status_code=200)
    last_attempt = max(failed.values_list("attempt", flat=True), default=0)
    assert last_attempt >= 2, "the flaky receiver was not retried"
    tries = list(failed.order_by("delivered_at").values_list("event_id", "attempt", "delivered_at"))
    for (event, attempt, at), (next_event, next_attempt, next_at) in itertools.pairwise(tries):
        if next_event == event and next_attempt == attempt + 1:  # retried no sooner than due
            assert (next_at - at).total_seconds() >= backoff_seconds(attempt) - 0.05
    assert len(kills) >= KILLS, "too few kills while delivering"
    allowed = backoff_seconds(last_attempt) + LEASE_SECONDS + 3 * SWEEP_SECONDS
    back = min(r.at for r in flaky.received if r.at >= up)
    assert back - up <= allowed, (back - up, allowed)
    first_of = {}
    for r in flaky.received:
        first_of.setdefault(r.webhook_id, r.at)
    pending_at_up = [k for k, at in writer.committed.items() if at < up]
    caught_up = max(first_of[k] for k in pending_at_up) - up

    # The healthy receiver never waited for it: while the other was down (and events kept
    # coming), it went no longer without a delivery than a wake-up takes, unless a worker was
    # killed in between (which costs every webhook a lease and a worker's start-up alike); and
    # what was committed then reached it far sooner than it reached the other.
    healthy_first: dict[str, float] = {}
    for r in healthy.received:
        healthy_first.setdefault(r.webhook_id, r.at)
    while_down = sorted(r.at for r in healthy.received if down <= r.at <= up)
    assert while_down, "nothing reached the healthy receiver while the other was down"
    quiet = [
        later - earlier
        for earlier, later in itertools.pairwise([down, *while_down])
        if not kill_between(kills, earlier, later)
    ]
    longest_quiet = max(quiet, default=0.0)
    assert longest_quiet <= 3 * SWEEP_SECONDS + 1, longest_quiet

    def lags(first: dict[str, float], keys: list[str]) -> list[float]:
        return sorted(first[k] - writer.committed[k] for k in keys)

    def p50(values: list[float]) -> float:
        return values[len(values) // 2]

    during = [k for k, at in writer.committed.items() if down <= at <= up]
    other = [k for k, at in writer.committed.items() if not down <= at <= up]
    healthy_lags, otherwise = lags(healthy_first, during), lags(healthy_first, other)
    flaky_lags = lags(first_of, during)
    assert p50(healthy_lags) + DOWN_FOR / 4 < p50(flaky_lags)

    figure(
        f"{EVENTS} events, {len(kills)} kills, receiver down {DOWN_FOR:.0f} s: healthy got "
        f"{healthy_count} ({healthy_repeats} repeats), longest wait between its deliveries "
        f"with no kill between while the other was down {longest_quiet:.2f} s, lag then p50 "
        f"{p50(healthy_lags):.2f} s (otherwise p50 {p50(otherwise):.2f} s); flaky got "
        f"{flaky_count} ({flaky_repeats} repeats), back {back - up:.1f} s after it came up "
        f"(backoff then "
        f"{backoff_seconds(last_attempt):.0f} s, attempt {last_attempt}), caught up "
        f"{caught_up:.1f} s after, its lag then p50 {p50(flaky_lags):.1f} s; all delivered "
        f"{done - started:.0f} s after the start"
    )
