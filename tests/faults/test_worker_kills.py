"""Workers SIGKILLed every few seconds under concurrent commands.

Two ``celery worker --pool=solo`` processes apply the projections (solo: the catch-up runs in
the very process that is killed), in batches of 20 events so that a catch-up moves its
checkpoint often. Every 2 s the older worker is SIGKILLed, as soon as its database session is
inside a transaction (a batch half applied) if that happens within a second, and a new one is
started in its place, as a supervisor would. Three clerks send commands all along. Then, with
the workers left alone, every column of every row of the read models must equal the fold of
the log, and each projection must have counted every event exactly once: nothing doubled,
nothing skipped. (tests/projections/test_worker_crash.py kills workers at chosen points of a
long catch-up instead; this one kills them at random points of steady traffic.)
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from tests.faults.fold import assert_acknowledged_in_log, assert_read_models_equal_the_log
from tests.faults.processes import Process, Processes, database_url, in_transaction
from tests.faults.traffic import Api, Clerk, latency, stop_threads
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

KILLS = 8
KILL_EVERY_SECONDS = 2.0
CLERKS = 3
PAUSE = 0.02


def caught_up(api: Api) -> bool:
    reply = api.get("/api/projections")
    return reply.ok and all(p["lag_events"] == 0 for p in reply.body)


def within(seconds: float, predicate: Callable[[], bool]) -> bool:
    """Whether ``predicate`` comes true within ``seconds`` (polled; no failure if not)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def test_workers_killed_under_commands_leave_read_models_equal_to_the_log(
    processes: Processes, token: str, figure: Callable[[str], None]
) -> None:
    started = time.monotonic()
    broker = processes.redis()
    env = processes.env(broker_url=broker.url)
    web, port = processes.web(env)
    beat = processes.beat(env)
    numbers = itertools.count()

    def start_worker() -> tuple[Process, str]:
        name = f"killable-{next(numbers)}"
        worker_env = {
            **env,
            "DATABASE_URL": database_url(application_name=name),
            "PROJECTION_BATCH_SIZE": "20",
            # A killed worker's leases run out after this long: then another claims them.
            "PROJECTION_LEASE_SECONDS": "5",
        }
        return processes.worker(worker_env, name, "--pool=solo"), name

    workers = [start_worker(), start_worker()]
    api = Api(port, token)
    wait_until(lambda: api.get("/api/projections").ok, timeout=30, what="the web server")

    stop = threading.Event()
    clerks = [Clerk(api, f"k{n}", pause=PAUSE, resend=False, stop=stop) for n in range(CLERKS)]
    for clerk in clerks:
        clerk.start()
    mid_transaction = 0
    try:
        wait_until(lambda: clerks[0].acks, timeout=30, what="a first command")
        first = clerks[0].acks[0].order_id
        wait_until(lambda: api.get(f"/api/orders/{first}").ok, timeout=60, what="the workers")
        for _ in range(KILLS):
            stop.wait(KILL_EVERY_SECONDS)  # the pace of the kills
            worker, name = workers.pop(0)
            assert worker.alive(), f"{name} died on its own:\n{worker.output()}"
            mid_transaction += within(1.0, lambda: in_transaction(name))  # noqa: B023
            worker.kill()
            workers.append(start_worker())
    finally:
        stop_threads(clerks, stop)
    killed_at = time.monotonic()

    wait_until(lambda: caught_up(api), timeout=60, interval=0.05, what="the projections")
    figure(
        f"{KILLS} workers killed, {mid_transaction} in a transaction; caught up "
        f"{time.monotonic() - killed_at:.1f} s after the last kill"
    )
    replies = [r for clerk in clerks for r in clerk.snapshot()]
    figure(f"commands meanwhile: {latency(replies)}")
    failed = [str(r) for r in replies if not r.ok]
    assert not failed, f"{len(failed)} commands failed, e.g. {failed[:5]}"
    assert mid_transaction >= KILLS // 2, "too few kills hit a transaction to prove anything"
    assert all(worker.alive() for worker, _ in workers) and beat.alive() and web.alive()

    assert_acknowledged_in_log([ack for clerk in clerks for ack in clerk.acks])
    events = assert_read_models_equal_the_log()
    figure(f"{events} events; the test took {time.monotonic() - started:.0f} s")
