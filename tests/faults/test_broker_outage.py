"""A broker outage: the private Redis is out for 30 s while a clerk sends commands.

For the first half Redis is gone (killed while catch-ups run, which end only after the worker
has given that connection up; then connections are refused); for the second a new, empty Redis
hangs (SIGSTOP: the kernel accepts connections, nothing answers, so every client waits for its
timeouts); then it answers again. Commands must stay 2xx and fast (a lost wake-up only delays
the read side), the worker and beat must live through the outage, the projections must have
applied everything no more than 10 s after Redis is back, and the web's wake-ups must resume,
with nobody restarting anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from projections.models import ProjectionState
from tests.faults.fold import assert_acknowledged_in_log, assert_read_models_equal_the_log
from tests.faults.processes import Processes, writes_held
from tests.faults.traffic import Api, Clerk, create_order, latency, stop_threads
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

OUTAGE_SECONDS = 30.0
CATCH_UP_LIMIT_SECONDS = 10.0
# A command takes tens of milliseconds; one that tries the hung broker pays its timeouts: 0.5 s
# once per back-off now, over 2 s each before. The bound leaves room for a busy two-core machine.
SLOW_COMMAND_SECONDS = 1.5
PAUSE = 0.05  # between a clerk's commands


def caught_up(api: Api) -> bool:
    reply = api.get("/api/projections")
    return reply.ok and all(p["lag_events"] == 0 for p in reply.body)


def test_commands_stay_fast_and_the_worker_catches_up_by_itself_after_a_broker_outage(
    processes: Processes, token: str, figure: Callable[[str], None]
) -> None:
    started = time.monotonic()
    broker = processes.redis()
    env = processes.env(broker_url=broker.url)
    web, port = processes.web(env)
    worker = processes.worker(env, "worker", "--concurrency", "2")
    beat = processes.beat(env)
    api = Api(port, token)
    wait_until(lambda: api.get("/api/projections").ok, timeout=30, what="the web server")

    stop = threading.Event()
    clerk = Clerk(api, "broker", pause=PAUSE, resend=False, stop=stop)
    clerk.start()
    try:
        # The whole path works before the outage: a command's order reaches the read model.
        wait_until(lambda: clerk.acks, timeout=30, what="a first command")
        first = clerk.acks[0].order_id
        wait_until(
            lambda: api.get(f"/api/orders/{first}").ok, timeout=60, what="the worker to apply it"
        )

        # Redis goes while catch-ups run, and they end only after the worker has given up its
        # connection: the messages they acknowledge came on a connection that is no more.
        with writes_held(ProjectionState):
            broker.crash()
            down_at = time.monotonic()
            wait_until(
                lambda: "Connection to broker lost" in worker.output(tail=10**6),
                timeout=15,
                what="the worker to notice",
            )
        # The outage's length; the clerk sends commands meanwhile.
        stop.wait(down_at + OUTAGE_SECONDS / 2 - time.monotonic())
        broker.start()
        broker.freeze()
        stop.wait(OUTAGE_SECONDS / 2)
    finally:
        stop_threads([clerk], stop)
    survived = {"worker": worker.alive(), "beat": beat.alive()}
    broker.thaw()
    back_at = time.monotonic()

    replies = clerk.snapshot()
    during = [r for r in replies if down_at <= r.started < back_at]
    before = [r for r in replies if r.started < down_at]
    figure(f"commands before the outage: {latency(before)}")
    figure(f"commands while Redis hung or was gone: {latency(during)}")
    assert survived == {"worker": True, "beat": True}, (
        f"died in the outage: {survived}\nworker:\n{worker.output()}\nbeat:\n{beat.output()}"
    )
    wait_until(lambda: caught_up(api), timeout=60, interval=0.05, what="the projections")
    catch_up = time.monotonic() - back_at
    figure(f"caught up {catch_up:.1f} s after Redis was back")
    failed = [str(r) for r in replies if not r.ok]
    assert not failed, f"{len(failed)} commands failed, e.g. {failed[:5]}"
    slow = [str(r) for r in during if r.seconds > SLOW_COMMAND_SECONDS]
    assert not slow, f"{len(slow)} commands were slow while Redis was out, e.g. {slow[:5]}"
    assert len(during) >= 100, f"only {len(during)} commands were sent while Redis was out"
    assert catch_up <= CATCH_UP_LIMIT_SECONDS, f"caught up only after {catch_up:.1f} s"
    assert worker.alive() and beat.alive() and web.alive()

    # The web's wake-ups resume by themselves: a command after the outage sets the flag again.
    def woke() -> bool:
        created = api.call("POST", "/api/orders", create_order("after", 0).body)
        assert created.ok, created
        return broker.calls("set") > 0

    wait_until(woke, timeout=10, interval=0.2, what="a command to send a wake-up again")
    wait_until(lambda: caught_up(api), timeout=30, interval=0.05, what="the projections")

    assert_acknowledged_in_log(clerk.acks)
    events = assert_read_models_equal_the_log()
    figure(f"{events} events; the test took {time.monotonic() - started:.0f} s")
