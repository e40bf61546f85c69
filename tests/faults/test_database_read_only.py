"""A read-only database: a private PostgreSQL server turned read-only for a few seconds under
commands and queries (``default_transaction_read_only``, as a standby after a failover refuses
writes), then writable again.

Every write then fails with SQLSTATE 25006. Commands must answer 503 in the contract's error
shape (never 500) and append nothing, queries go on answering from the read models, a worker
trying a backlog records no failure against the events it could not apply; once writable
again, web and worker go on by themselves, every acknowledged command's event is in the log
and the read models equal the fold of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from projections.models import ProjectionState
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

READ_ONLY_SECONDS = 8.0
# Sessions take the reloaded setting at their next transaction, once they have read it: the
# answers of the first moment (and the last) may be either.
SETTLING_SECONDS = 1.0
DEADLINE_SECONDS = 15.0
PAUSE = 0.05
CLERKS = 2


def caught_up(api: Api) -> bool:
    reply = api.get("/api/projections")
    return reply.ok and all(p["lag_events"] == 0 for p in reply.body)


def test_a_read_only_database_answers_commands_503_and_queries_go_on(
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
    clerks = [Clerk(api, f"ro{n}", pause=PAUSE, resend=True, stop=stop) for n in range(CLERKS)]
    for clerk in clerks:
        clerk.start()
    threads: list[threading.Thread] = list(clerks)
    try:
        wait_until(lambda: clerks[0].acks, timeout=30, what="a first command")
        known = clerks[0].acks[0].order_id
        wait_until(lambda: api.get(f"/api/orders/{known}").ok, timeout=60, what="the worker")
        customer = api.get(f"/api/orders/{known}").body["customer_id"]
        reader = Reader(
            api,
            [
                f"/api/orders/{known}",
                f"/api/orders/{known}/history",
                f"/api/customers/{customer}/summary",
                f"/api/orders/search?customer_id={customer}",
                "/api/reports/daily-sales",
                "/api/projections",
            ],
            pause=PAUSE,
            stop=stop,
        )
        threads.append(reader)
        reader.start()

        # A backlog for the worker to try while the database is read-only: events committed
        # while no worker runs, a new one started once writes are refused.
        worker.kill()
        backlog = sum(len(c.acks) for c in clerks) + 10
        wait_until(lambda: sum(len(c.acks) for c in clerks) >= backlog, timeout=30, what="acks")
        private_database.read_only(True)
        read_only_at = time.monotonic()
        try:
            worker = processes.worker(env, "worker", "--concurrency", "2")
            stop.wait(READ_ONLY_SECONDS)  # how long it stays read-only; requests go on
            readiness = api.get("/readyz")  # this instance cannot serve commands: not ready
            wait_until(
                lambda: "read-only transaction" in worker.output(),
                timeout=30,
                what="the worker to try the backlog",
            )
        finally:
            private_database.read_only(False)
        writable_at = time.monotonic()

        def every_clerk_went_on() -> bool:
            after = [[r for r in c.snapshot() if r.ok and r.started >= writable_at] for c in clerks]
            return all(len(replies) >= 5 for replies in after)

        wait_until(every_clerk_went_on, timeout=60, what="every clerk to go on")
    finally:
        stop_threads(threads, stop)

    commands = [r for c in clerks for r in c.snapshot()]
    queries = reader.snapshot()
    replies: list[Reply] = commands + queries

    def settled(reply: Reply) -> bool:
        """Sent once the server was read-only for every session, answered before it was not."""
        return (
            read_only_at + SETTLING_SECONDS <= reply.started
            and reply.started + reply.seconds < writable_at
        )

    refused = [r for r in commands if settled(r)]
    served = [r for r in queries if settled(r)]
    figure(f"commands while read-only: {latency(refused)}")
    figure(f"queries while read-only: {latency(served)}")

    wrong = [str(r) for r in replies if not (r.ok or is_service_unavailable(r))]
    assert not wrong, f"{len(wrong)} answers were neither 2xx nor 503, e.g. {wrong[:5]}"
    assert len(refused) >= 10, "hardly any command was sent while the database was read-only"
    accepted = [str(r) for r in refused if not is_service_unavailable(r)]
    assert not accepted, f"commands accepted by a read-only database: {accepted[:5]}"
    assert len(served) >= 10 and all(r.ok for r in served), [str(r) for r in served[:5]]
    assert readiness.status == 503, readiness
    assert readiness.body["error"]["details"]["database"] == "read_only", readiness

    wait_until(lambda: caught_up(api), timeout=60, interval=0.05, what="the worker to go on")
    assert worker.alive() and beat.alive() and web.alive()
    failures = ProjectionState.objects.exclude(attempts=0, last_error="")
    assert not failures.exists(), list(failures.values("name", "attempts", "last_error"))

    acks = [ack for clerk in clerks for ack in clerk.acks]
    assert_acknowledged_in_log(acks)
    events = assert_read_models_equal_the_log()
    figure(
        f"{len(acks)} commands acknowledged, {events} events in the log; "
        f"the test took {time.monotonic() - started:.0f} s"
    )
