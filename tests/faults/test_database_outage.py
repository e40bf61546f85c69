"""A database outage: PostgreSQL unreachable for 10 s under commands and queries.

The web server and the worker reach the test database only through a proxy the test controls
(tests/faults/proxy.py says why a proxy); taking it down cuts every open connection and refuses
new ones. Meanwhile every answer must be a success or a 503 in the contract's error shape:
never a 500, never a hang (each request has a client deadline). Clerks send each command again
with its Idempotency-Key until it succeeds, as the contract lets a careful client do. Once the
database is back, web and worker recover by themselves, every acknowledged command's event is
in the log and the read models equal the fold of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from eventstore.models import Event
from projections.models import ProjectionState
from tests.faults.fold import assert_acknowledged_in_log, assert_read_models_equal_the_log
from tests.faults.processes import Processes, database_url, writes_held
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

OUTAGE_SECONDS = 10.0
DEADLINE_SECONDS = 15.0  # a request without an answer by then hangs
PAUSE = 0.05
CLERKS = 2


def caught_up(api: Api) -> bool:
    reply = api.get("/api/projections")
    return reply.ok and all(p["lag_events"] == 0 for p in reply.body)


def test_a_database_outage_answers_503_only_and_nothing_acknowledged_is_lost(
    processes: Processes, token: str, figure: Callable[[str], None]
) -> None:
    started = time.monotonic()
    proxy = processes.database_proxy()
    broker = processes.redis()
    env = processes.env(broker_url=broker.url, database=database_url(port=proxy.port))
    web, port = processes.web(env)
    worker = processes.worker(env, "worker", "--concurrency", "2")
    beat = processes.beat(env)
    api = Api(port, token, timeout=DEADLINE_SECONDS)
    wait_until(lambda: api.get("/api/projections").ok, timeout=30, what="the web server")

    stop = threading.Event()
    clerks = [Clerk(api, f"db{n}", pause=PAUSE, resend=True, stop=stop) for n in range(CLERKS)]
    for clerk in clerks:
        clerk.start()
    threads: list[threading.Thread] = list(clerks)
    try:
        # Reads of an order the read side has applied: they answer 200 or 503, nothing else.
        wait_until(lambda: clerks[0].acks, timeout=30, what="a first command")
        known = clerks[0].acks[0].order_id
        wait_until(lambda: api.get(f"/api/orders/{known}").ok, timeout=60, what="the worker")
        customer = api.get(f"/api/orders/{known}").body["customer_id"]
        reader = Reader(
            api,
            [
                f"/api/orders/{known}",
                f"/api/orders/{known}/history",
                f"/api/orders/{known}/state",
                f"/api/customers/{customer}/orders",
                f"/api/customers/{customer}/summary",
                f"/api/orders/search?customer_id={customer}&sort_by=total_amount",
                "/api/reports/daily-sales",
                "/api/projections",
            ],
            pause=PAUSE,
            stop=stop,
        )
        reader.start()
        threads.append(reader)

        # The database goes while a catch-up and commands are in the middle of transactions.
        with writes_held(ProjectionState), writes_held(Event, waiting=1 + CLERKS):
            proxy.stop()
        down_at = time.monotonic()
        stop.wait(OUTAGE_SECONDS)  # the outage's length; commands and queries go on meanwhile
        proxy.start()
        back_at = time.monotonic()

        def a_command_succeeded_since_the_return() -> bool:
            return any(r.ok and r.started >= back_at for c in clerks for r in c.snapshot())

        wait_until(a_command_succeeded_since_the_return, timeout=30, what="the web to recover")
        web_back = time.monotonic() - back_at

        # Every clerk goes on as before: several commands each after the return.
        def every_clerk_went_on() -> bool:
            after = [[r for r in c.snapshot() if r.ok and r.started >= back_at] for c in clerks]
            return all(len(replies) >= 5 for replies in after)

        wait_until(every_clerk_went_on, timeout=30, what="every clerk to go on")
    finally:
        stop_threads(threads, stop)

    replies: list[Reply] = [r for c in clerks for r in c.snapshot()] + reader.snapshot()
    during = [r for r in replies if down_at <= r.started < back_at]
    figure(f"requests while the database was down: {latency(during)}")
    unavailable = [r for r in replies if is_service_unavailable(r)]
    figure(
        f"{len(unavailable)} answers 503 of {len(replies)}; the web answered 2xx again "
        f"{web_back:.1f} s after the database was back"
    )
    wrong = [str(r) for r in replies if not (r.ok or is_service_unavailable(r))]
    assert not wrong, f"{len(wrong)} answers were neither 2xx nor 503, e.g. {wrong[:5]}"
    assert len(unavailable) >= 10, "the outage was hardly noticed: is the proxy in the way?"
    assert max(r.seconds for r in replies) < DEADLINE_SECONDS

    wait_until(lambda: caught_up(api), timeout=60, interval=0.05, what="the worker to recover")
    caught_up_after = time.monotonic() - back_at
    figure(f"the projections caught up {caught_up_after:.1f} s after the database was back")
    assert worker.alive() and beat.alive() and web.alive()

    acks = [ack for clerk in clerks for ack in clerk.acks]
    assert any(r.ok for r in replies if r.started >= back_at)
    assert_acknowledged_in_log(acks)
    events = assert_read_models_equal_the_log()
    figure(
        f"{len(acks)} commands acknowledged, {events} events in the log; "
        f"the test took {time.monotonic() - started:.0f} s"
    )
