"""Four shards on two worker processes, SIGKILLed and restarted at random, one of them paused
past its lease, under eight writer processes.

Every projection runs as 4 shards (PROJECTION_SHARDS), applied by two ``celery worker
--pool=solo`` processes (batches of 20 events, leases of 5 s) while eight writer processes
(tests/faults/writer.py) send orders' commands over HTTP. At random moments a worker is
SIGKILLed and a new one started in its place; once, a worker that holds a shard's lease is
SIGSTOPped until its lease ran out and the other worker took the shard over (its fencing token
went up), then resumed: its batch in flight must not commit. Then, with the workers stopped:
every acknowledged command is in the log, the read tables equal the fold of the log and each
projection counted every event exactly once (no batch committed twice), and they equal, row
for row, a rebuild of every projection from scratch.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from projections.engine.rebuild import rebuild
from projections.models import OrderTermCount, ProjectionState
from tests.faults.fold import (
    actual_read_models,
    assert_acknowledged_in_log,
    assert_read_models_equal_the_log,
    differences,
)
from tests.faults.processes import Process, Processes, database_url, in_transaction
from tests.faults.traffic import Ack, Api
from tests.projections.builders import READ_MODEL_PROJECTIONS
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

SHARDS = 4
WRITERS = 8
WRITING_SECONDS = 30.0
LEASE_SECONDS = 5
KILL_EVERY = (1.5, 4.0)  # seconds between kills, at random


def _caught_up(api: Api) -> bool:
    reply = api.get("/api/projections")
    return reply.ok and all(p["lag_events"] == 0 and len(p["shards"]) == SHARDS for p in reply.body)


def _held_by(pid: int) -> list[ProjectionState]:
    """The cursors whose lease the worker process ``pid`` holds now (owner host:pid:thread)."""
    return list(
        ProjectionState.objects.filter(active=True, owner__contains=f":{pid}:").exclude(
            lease_until=None
        )
    )


def _term_counts() -> dict[tuple[str, str], int]:
    """order_views' counts by word of its active generation, the shards' parts added up."""
    generation = ProjectionState.objects.get(name="order_views", shard=0, active=True).generation
    counts: dict[tuple[str, str], int] = {}
    for row in OrderTermCount.objects.filter(generation=generation):
        counts[(row.term, row.status)] = counts.get((row.term, row.status), 0) + row.order_count
    return {k: n for k, n in counts.items() if n}


def test_shards_on_killed_and_paused_workers_equal_a_rebuild_from_scratch(
    processes: Processes, token: str, settings: Any, figure: Callable[[str], None]
) -> None:
    started = time.monotonic()
    rng = random.Random(18)
    settings.PROJECTION_SHARDS = dict.fromkeys(READ_MODEL_PROJECTIONS, SHARDS)
    for name in READ_MODEL_PROJECTIONS:  # a new shard count is a new generation
        rebuild(name)
    shards = ",".join(f"{name}={SHARDS}" for name in READ_MODEL_PROJECTIONS)
    broker = processes.redis()
    # Eight writers of one user send more than a user's default rate (1200/minute).
    env = processes.env(
        broker_url=broker.url, PROJECTION_SHARDS=shards, API_THROTTLE_USER="100000/minute"
    )
    # gunicorn as production runs it: a bounded number of database sessions for 8 writers.
    web, port = processes.gunicorn(env, workers=2, threads=4)
    beat = processes.beat(env)
    numbers = itertools.count()

    def start_worker() -> tuple[Process, str]:
        name = f"sharded-{next(numbers)}"
        worker_env = {
            **env,
            "DATABASE_URL": database_url(application_name=name),
            "PROJECTION_BATCH_SIZE": "20",
            "PROJECTION_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        return processes.worker(worker_env, name, "--pool=solo"), name

    workers = [start_worker(), start_worker()]
    api = Api(port, token)
    wait_until(lambda: api.get("/api/projections").ok, timeout=30, what="the web server")

    outputs = [processes.directory / f"writer-{n}.json" for n in range(WRITERS)]
    writers = [
        processes.spawn(
            "writer",
            [
                sys.executable,
                "-m",
                "tests.faults.writer",
                str(port),
                token,
                f"w{n}",
                str(WRITING_SECONDS),
                str(out),
            ],
            env,
        )
        for n, out in enumerate(outputs)
    ]
    kills = 0
    paused = False
    takeover = ""
    deadline = time.monotonic() + WRITING_SECONDS
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(*KILL_EVERY))
        if not paused and kills >= 2:
            takeover = _pause_past_lease(workers)
            paused = True
            continue
        index = rng.randrange(len(workers))
        worker, name = workers.pop(index)
        assert worker.alive(), f"{name} died on its own:\n{worker.output()}"
        worker.kill()
        kills += 1
        workers.append(start_worker())
    assert paused, "the writing ended before a worker was paused"
    for writer in writers:
        writer.popen.wait(timeout=60)
    reports = [json.loads(out.read_text()) for out in outputs]
    acks = [Ack(**ack) for report in reports for ack in report["acks"]]
    failed = [f for report in reports for f in report["failed"]]
    figure(
        f"{WRITERS} writers: {sum(r['sent'] for r in reports)} commands, {len(acks)} acknowledged; "
        f"{kills} workers killed; {takeover}"
    )
    assert not failed, f"{len(failed)} commands failed, e.g. {failed[:5]}"
    assert acks

    wait_until(lambda: _caught_up(api), timeout=90, interval=0.1, what="the shards to catch up")
    caught_up_after = time.monotonic() - deadline
    assert all(worker.alive() for worker, _ in workers) and beat.alive() and web.alive()
    for worker, _ in workers:
        worker.stop()
    beat.stop()

    assert_acknowledged_in_log(acks)
    events = assert_read_models_equal_the_log()  # every event counted once: none twice
    live = actual_read_models()
    live_terms = _term_counts()
    rebuilt_at = time.monotonic()
    for name in READ_MODEL_PROJECTIONS:
        rebuild(name)
    assert differences(live, actual_read_models()) == []
    assert live_terms == _term_counts()
    figure(
        f"{events} events; caught up {caught_up_after:.1f} s after the writers; rebuild "
        f"{time.monotonic() - rebuilt_at:.1f} s; the test took {time.monotonic() - started:.0f} s"
    )


def _pause_past_lease(workers: list[tuple[Process, str]]) -> str:
    """SIGSTOP a worker while it holds a shard's lease (inside its batch if that happens within
    a second), until the other worker has taken that shard over; then SIGCONT it. Returns what
    happened, for the figures."""
    held: list[ProjectionState] = []
    worker, name = workers[0]

    def holding() -> bool:
        nonlocal worker, name, held
        for worker, name in workers:  # noqa: B007 - the one found is used after
            held = _held_by(worker.pid)
            if held:
                return True
        return False

    wait_until(holding, timeout=20, interval=0.005, what="a worker to hold a shard")
    end = time.monotonic() + 1.0
    while not in_transaction(name) and time.monotonic() < end:
        time.sleep(0.002)
    held = _held_by(worker.pid) or held
    mid_batch = in_transaction(name)
    os.kill(worker.pid, signal.SIGSTOP)
    paused_at = time.monotonic()
    try:
        before = {state.pk: state.fencing for state in held}

        def taken_over() -> bool:
            # The paused worker claims nothing: a higher token is another worker's claim.
            now = ProjectionState.objects.filter(pk__in=before)
            return any(s.fencing > before[s.pk] for s in now)

        wait_until(taken_over, timeout=LEASE_SECONDS * 6, interval=0.05, what="a takeover")
        # Past any lease it held, renewed or not, before it wakes.
        time.sleep(max(0.0, LEASE_SECONDS + 1 - (time.monotonic() - paused_at)))
        after = {s.pk: s.fencing for s in ProjectionState.objects.filter(pk__in=before)}
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    assert any(after[pk] > fencing for pk, fencing in before.items())
    shard_list = ", ".join(f"{s.name}/{s.shard}" for s in held)
    return (
        f"{name} paused {time.monotonic() - paused_at:.1f} s holding {shard_list}"
        f"{' inside a batch' if mid_batch else ''}: fencing {sorted(before.values())} -> "
        f"{sorted(after.values())}"
    )
