"""A hung database: every process of a private PostgreSQL server SIGSTOPped for 20 s under
commands and queries, then SIGCONTinued.

A frozen server is not a stopped one: its kernel still accepts connections and acknowledges
what is sent, so nothing on the network side tells the clients, and its own statement timeout
never fires. gunicorn (as production runs it), a Celery worker and beat use the server; clerks
send each command again with its Idempotency-Key until it succeeds. While it is frozen every
command must be answered (503 in the contract's error shape) within 10 s and /healthz within
1 s, never hang; once it is thawed, web and worker go on by themselves, every acknowledged
command's event is in the log and the read models equal the fold of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.faults.fold import assert_acknowledged_in_log, assert_read_models_equal_the_log
from tests.faults.processes import PostgresServer, Processes, database_url
from tests.faults.traffic import (
    Api,
    Clerk,
    Reader,
    Reply,
    is_service_unavailable,
    latency,
    stop_threads,
)
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

FROZEN_SECONDS = 20.0
COMMAND_LIMIT_SECONDS = 10.0  # a command answers within this, frozen database or not
PROBE_LIMIT_SECONDS = 1.0
DEADLINE_SECONDS = 30.0  # a request without an answer by then hangs
PAUSE = 0.05
CLERKS = 2  # with the reader, fewer requests at a time than gunicorn has threads


def caught_up(api: Api) -> bool:
    reply = api.get("/api/projections")
    return reply.ok and all(p["lag_events"] == 0 for p in reply.body)


def test_a_frozen_database_answers_503_in_time_and_nothing_acknowledged_is_lost(
    processes: Processes,
    private_database: PostgresServer,
    token: str,
    figure: Callable[[str], None],
) -> None:
    started = time.monotonic()
    broker = processes.redis()
    env = processes.env(broker_url=broker.url, database=database_url())
    web, port = processes.gunicorn(env, workers=1, threads=4)
    worker = processes.worker(env, "worker", "--concurrency", "2")
    beat = processes.beat(env)
    api = Api(port, token, timeout=DEADLINE_SECONDS)
    wait_until(lambda: api.get("/api/projections").ok, timeout=60, what="the web server")

    stop = threading.Event()
    clerks = [Clerk(api, f"fz{n}", pause=PAUSE, resend=True, stop=stop) for n in range(CLERKS)]
    for clerk in clerks:
        clerk.start()
    threads: list[threading.Thread] = list(clerks)
    try:
        wait_until(lambda: clerks[0].acks, timeout=30, what="a first command")
        known = clerks[0].acks[0].order_id
        wait_until(lambda: api.get(f"/api/orders/{known}").ok, timeout=60, what="the worker")
        reader = Reader(api, [f"/api/orders/{known}", "/api/projections"], pause=PAUSE, stop=stop)
        prober = Reader(api, ["/healthz"], pause=0.2, stop=stop)
        threads += [reader, prober]
        reader.start()
        prober.start()

        private_database.freeze()
        frozen_at = time.monotonic()
        try:
            stop.wait(FROZEN_SECONDS / 2)  # the freeze's length; requests go on meanwhile
            readiness = api.get("/readyz")
            stop.wait(FROZEN_SECONDS - (time.monotonic() - frozen_at))
        finally:
            private_database.thaw()
        thawed_at = time.monotonic()

        def every_clerk_went_on() -> bool:
            after = [[r for r in c.snapshot() if r.ok and r.started >= thawed_at] for c in clerks]
            return all(len(replies) >= 5 for replies in after)

        wait_until(every_clerk_went_on, timeout=60, what="every clerk to go on")
        web_back = min(
            r.started + r.seconds - thawed_at
            for c in clerks
            for r in c.snapshot()
            if r.ok and r.started >= thawed_at
        )
    finally:
        stop_threads(threads, stop)

    commands = [r for c in clerks for r in c.snapshot()]
    replies: list[Reply] = commands + reader.snapshot()
    during = [r for r in commands if frozen_at <= r.started < thawed_at]
    probes = [r for r in prober.snapshot() if frozen_at <= r.started < thawed_at]
    figure(f"commands sent while frozen: {latency(during)}")
    figure(f"/healthz while frozen: {latency(probes)}")
    figure(f"a command succeeded {web_back:.1f} s after the thaw")

    wrong = [str(r) for r in replies if not (r.ok or is_service_unavailable(r))]
    assert not wrong, f"{len(wrong)} answers were neither 2xx nor 503, e.g. {wrong[:5]}"
    unavailable = [r for r in during if is_service_unavailable(r)]
    assert len(unavailable) >= 5, "the freeze was hardly noticed"
    slow = [str(r) for r in during if r.seconds >= COMMAND_LIMIT_SECONDS]
    assert not slow, f"commands answered after {COMMAND_LIMIT_SECONDS} s: {slow[:5]}"
    assert len(probes) >= 10 and all(p.status == 200 for p in probes), probes[:5]
    # Readiness answers too, in time: this instance cannot serve.
    assert readiness.status == 503 and readiness.seconds < COMMAND_LIMIT_SECONDS, readiness
    assert readiness.body["error"]["details"]["database"] == "unreachable", readiness
    assert max(p.seconds for p in probes) < PROBE_LIMIT_SECONDS, latency(probes)

    wait_until(lambda: caught_up(api), timeout=60, interval=0.05, what="the worker to go on")
    figure(f"the projections caught up {time.monotonic() - thawed_at:.1f} s after the thaw")
    assert worker.alive() and beat.alive() and web.alive()

    acks = [ack for clerk in clerks for ack in clerk.acks]
    assert_acknowledged_in_log(acks)
    events = assert_read_models_equal_the_log()
    figure(
        f"{len(acks)} commands acknowledged, {events} events in the log; "
        f"the test took {time.monotonic() - started:.0f} s"
    )
