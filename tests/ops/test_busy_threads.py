"""gunicorn with every request thread busy: liveness answers at once, and readers waiting for
positions never met cannot take the threads commands need.

Real gunicorn (config/gunicorn.py), real HTTP clients in threads. The positions waited for are
never applied: a private Redis takes the wake-ups and no worker runs.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from eventstore.store import head_position
from tests.faults.processes import Processes, database_url, wait_for_no_other_sessions
from tests.faults.traffic import Api, Reply, create_order
from tests.projections import builders as b
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

APPLICATION = "busy-threads-web"


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()
        wait_for_no_other_sessions()


@pytest.fixture
def token(clerk: object) -> str:
    return Token.objects.create(user=clerk).key


def sessions_of_the_web_server() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION]
        )
        return int(cursor.fetchone()[0])


def serve(processes: Processes, *, threads: int, **settings: str) -> int:
    """gunicorn (one worker of ``threads`` threads) on the test database; its port."""
    broker = processes.redis()  # takes the wake-ups; no worker applies anything
    env = processes.env(
        broker_url=broker.url, database=database_url(application_name=APPLICATION), **settings
    )
    web, port = processes.gunicorn(env, workers=1, threads=threads)
    probe = Api(port, "", timeout=60)

    def answers() -> bool:
        assert web.alive(), web.output()
        return probe.get("/healthz").status == 200

    wait_until(answers, timeout=60, what="gunicorn")
    return port


def in_threads(count: int, send: Callable[[], object]) -> list[threading.Thread]:
    threads = [threading.Thread(target=send, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def test_healthz_answers_at_once_while_every_request_thread_waits(
    processes: Processes, token: str
) -> None:
    _, unapplied = b.append_new_order()
    # Waits are not limited here: two take both request threads.
    api = Api(serve(processes, threads=2, CONSISTENCY_MAX_WAITS="100"), token, timeout=60)
    waiting = f"/api/orders/search?min_position={unapplied.last_position}&consistency_timeout=5"
    answered: list[Reply] = []
    readers = in_threads(2, lambda: answered.append(api.get(waiting)))
    wait_until(lambda: sessions_of_the_web_server() == 2, timeout=30, what="both threads busy")

    probes = [api.get("/healthz") for _ in range(5)]

    assert [p.status for p in probes] == [200] * 5
    assert max(p.seconds for p in probes) < 1.0, [round(p.seconds, 3) for p in probes]
    assert not answered, "the waits ended before the probes: the threads were not busy"
    for reader in readers:
        reader.join(timeout=60)
    assert sorted(r.status for r in answered) == [200] * 2


def test_readers_waiting_for_positions_never_met_leave_commands_their_latency(
    processes: Processes, token: str
) -> None:
    _, unapplied = b.append_new_order()
    api = Api(serve(processes, threads=4), token, timeout=60)  # CONSISTENCY_MAX_WAITS 2
    never = [
        f"/api/orders/search?min_position={unapplied.last_position}&consistency_timeout=10",
        f"/api/customers/x/orders?min_position={head_position() + 10**6}&consistency_timeout=30",
    ]
    stop = threading.Event()
    replies: list[Reply] = []

    def reader(path: str) -> None:
        """Asks again half a second after each answer, as a client polling for its write."""
        while not stop.is_set():
            replies.append(api.get(path))
            stop.wait(0.5)

    readers = [
        *in_threads(16, lambda: reader(never[0])),
        *in_threads(16, lambda: reader(never[1])),
    ]
    try:
        wait_until(lambda: len(replies) >= 64, timeout=60, what="the readers to be answered")
        commands = [
            api.call("POST", "/api/orders", create_order("latency", n).body) for n in range(10)
        ]
        probes = [api.get("/healthz") for _ in range(10)]
    finally:
        stop.set()
        processes.close()  # the readers still waiting get their connection closed
        for thread in readers:
            thread.join(timeout=30)

    assert [c.status for c in commands] == [201] * 10, [str(c) for c in commands if c.status != 201]
    seconds = [c.seconds for c in commands]
    assert max(seconds) < 2.0 and statistics.median(seconds) < 0.5, seconds
    assert max(p.seconds for p in probes) < 1.0, [round(p.seconds, 3) for p in probes]
    stale = [r for r in replies if r.status == 200 and r.seconds < 2.0]
    assert len(stale) >= 60, "readers beyond the wait limit are answered at once"
