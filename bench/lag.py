"""End-to-end read-side lag with a real Celery worker on Redis.

    python -m bench.lag [--rate-seconds 3] [--seconds 15] [--noop-rate 200] [--noop-seconds 5]

In a fresh database ``bench_lag`` (dropped, recreated, migrated), with Redis db 13 as the broker
(flushed first) and a dedicated queue ``bench_lag``:

1. starts ``celery -A config worker --pool=solo -c 1 -Q bench_lag -I bench.lag`` (the worker
   imports this module, which defines the no-op task and records catch-up task timings);
2. measures the maximum command rate: ``orders.services.execute_command(CreateOrder)``
   in-process, one thread, for ``--rate-seconds`` (the worker runs and catches up meanwhile);
3. issues commands at half that rate for ``--seconds``. For each command it takes the commit
   instant (inside the on-commit wake-up) and the command's checkpoint
   (``eventstore.store.checkpoint_at(position)``); a separate listener process LISTENs on the
   'projections' channel the runner NOTIFYs after every batch and reads the active checkpoints.
   Lag = first moment a projection's checkpoint covers the command - commit;
4. measures a no-op Celery task's publish -> run latency at ``--noop-rate`` tasks/s, and at
   20/s for the floor of a worker that is never behind.

The worker is always stopped at the end. Targets (issue 12): lag p50 <= 5 ms, p99 <= 20 ms.

The project's settings have no setting for the task queue (no CELERY_TASK_DEFAULT_QUEUE or
task_routes), so ``-Q`` only tells the worker what to consume; this process routes its own
messages by setting ``task_default_queue`` on the Celery app after start-up.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from config.celery import app

DB_NAME = "bench_lag"
BROKER = os.environ.get("BENCH_LAG_BROKER", "redis://127.0.0.1:6379/13")
QUEUE = "bench_lag"
NOOP_TASK = "bench.lag.noop"
NOOP_KEY = "bench_lag:noop"
TASKS_KEY = "bench_lag:catch_up"
PROJECTIONS = ("order_views", "customer_summaries", "daily_sales")
TARGET_P50_MS = 5.0
TARGET_P99_MS = 20.0
ROOT = Path(__file__).resolve().parent.parent


# --- worker side: imported by the Celery worker through ``-I bench.lag`` ------------------------
_redis_client: Any = None


def _redis() -> Any:
    global _redis_client  # noqa: PLW0603 - one client per worker process
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(os.environ.get("CELERY_BROKER_URL", BROKER))
    return _redis_client


@app.task(name=NOOP_TASK, ignore_result=True)
def noop(sent_at: float, tag: str) -> None:
    """Record when this task was published and when it started (wall clock, same machine)."""
    _redis().rpush(f"{NOOP_KEY}:{tag}", f"{sent_at!r} {time.time()!r}")


def _connect_task_timers() -> None:
    """In the bench worker only: record when each projections.catch_up task starts and ends."""
    from celery.signals import task_postrun, task_prerun

    started: dict[str, float] = {}

    @task_prerun.connect(weak=False)
    def _before(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        if task is not None and task.name == "projections.catch_up" and task_id:
            started[task_id] = time.time()

    @task_postrun.connect(weak=False)
    def _after(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        if task is not None and task.name == "projections.catch_up" and task_id in started:
            _redis().rpush(TASKS_KEY, f"{started.pop(task_id)!r} {time.time()!r}")


if os.environ.get("BENCH_LAG_WORKER") == "1":
    _connect_task_timers()


# --- helpers ------------------------------------------------------------------------------------
def percentile_ms(values: list[float], quantile: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


def describe(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (
        f"p50 {percentile_ms(values, 0.5):6.1f} ms  p99 {percentile_ms(values, 0.99):6.1f} ms  "
        f"max {1000 * max(values):6.1f} ms  (n={len(values)})"
    )


def setup(name: str) -> dict[str, str]:
    """Fresh database, settings for a real broker, Django set up and migrated; the worker env."""
    from bench.common import database_url, recreate_database

    env = {
        "DATABASE_URL": database_url(name),
        "CELERY_BROKER_URL": BROKER,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "false"),
        "DJANGO_SECRET_KEY": os.environ.get(
            "DJANGO_SECRET_KEY", "bench-only-secret-key-not-used-for-anything-real"
        ),
    }
    os.environ.update(env)
    recreate_database(name)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return env


def start_worker(env: dict[str, str], log: Path, concurrency: int) -> subprocess.Popen[bytes]:
    celery = Path(sys.executable).with_name("celery")
    # One process: the solo pool; more: the prefork pool, as production runs it (Procfile).
    pool = ["--pool=solo", "-c", "1"] if concurrency == 1 else ["-c", str(concurrency)]
    command = [
        str(celery) if celery.exists() else sys.executable,
        *([] if celery.exists() else ["-m", "celery"]),
        "-A",
        "config",
        "worker",
        *pool,
        "-Q",
        QUEUE,
        "-I",
        "bench.lag",
        "-n",
        f"bench-lag-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "warning",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env, "BENCH_LAG_WORKER": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task, then exit
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=5)


def wait_for_noop(tag: str, count: int, timeout: float) -> list[tuple[float, float]]:
    """The (published, started) times of the no-op tasks tagged ``tag``, once ``count`` ran."""
    deadline = time.monotonic() + timeout
    key = f"{NOOP_KEY}:{tag}"
    while time.monotonic() < deadline:
        if _redis().llen(key) >= count:
            pairs = (raw.split() for raw in _redis().lrange(key, 0, -1))
            return [(float(sent), float(ran)) for sent, ran in pairs]
        time.sleep(0.02)
    raise TimeoutError(f"only {_redis().llen(key)} of {count} no-op tasks ran in {timeout:.0f}s")


def barrier(tag: str, timeout: float = 120.0) -> None:
    """Return once the worker has run everything published before (FIFO queue, one worker)."""
    noop.apply_async((time.time(), tag))
    wait_for_noop(tag, 1, timeout)


def wait_for_worker(worker: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}); see {log}")
        noop.apply_async((time.time(), "ready"))
        try:
            wait_for_noop("ready", 1, 1.0)
            return
        except TimeoutError:
            continue
    raise RuntimeError(f"the worker did not run a task within {timeout:.0f}s; see {log}")


# --- commands -----------------------------------------------------------------------------------
CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Oslo", "Turin")


def create_order(rng: random.Random) -> Any:
    from orders.domain.commands import CreateOrder
    from orders.domain.values import Address, LineItem

    products = rng.sample(range(1, 2_000), rng.choice((2, 3)))
    return CreateOrder(
        customer_id=f"customer-{rng.randint(1, 5_000):05d}",
        items=tuple(
            LineItem(f"SKU-{p:05d}", rng.randint(1, 4), Decimal(rng.randint(199, 49_999)) / 100)
            for p in products
        ),
        shipping_address=Address(
            f"{rng.randint(1, 400)} Main St", rng.choice(CITIES), "1000", "PT"
        ),
        currency="EUR",
    )


class CommitClock:
    """Wraps orders.services.announce_commit: it runs on commit, so it timestamps the commit."""

    def __init__(self) -> None:
        from orders import services

        self.services = services
        self.original = services.announce_commit
        self.last = 0.0

    def __enter__(self) -> CommitClock:
        def wake() -> None:
            self.last = time.time()
            self.original()

        self.services.announce_commit = wake
        return self

    def __exit__(self, *exc: object) -> None:
        self.services.announce_commit = self.original


def issue(rng: random.Random, clock: CommitClock) -> tuple[float, int]:
    from orders.services import execute_command

    outcome = execute_command(create_order(rng), actor="bench", correlation_id=str(uuid.uuid4()))
    return clock.last, outcome.result.position


def max_command_rate(rng: random.Random, clock: CommitClock, seconds: float) -> float:
    for _ in range(20):
        issue(rng, clock)  # warm-up: connections, caches
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        issue(rng, clock)
        count += 1
    return count / elapsed


# --- the listener (a separate process, so the command thread never delays its wake-ups) --------
STATES_SQL = "SELECT name, tx_id, position FROM projections_projectionstate WHERE active"


def listen(dsn: str, ready: Any, stop: Any, results: Any) -> None:
    """Record (time, projection, tx_id, position) each time a checkpoint is seen to move."""
    import psycopg

    observations: list[tuple[float, str, int, int]] = []
    last: dict[str, tuple[int, int]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("LISTEN projections")

        def look() -> None:
            rows = conn.execute(STATES_SQL).fetchall()
            now = time.time()
            for name, tx_id, position in rows:
                if last.get(name) != (tx_id, position):
                    last[name] = (tx_id, position)
                    observations.append((now, name, tx_id, position))

        look()
        ready.set()
        while not stop.is_set():
            notified = False
            for _notify in conn.notifies(timeout=0.05, stop_after=1):
                notified = True
            if notified:
                look()
        look()
    results.put(observations)


def first_visible(
    observations: list[tuple[float, str, int, int]], commands: list[tuple[float, int, int]]
) -> dict[str, list[float]]:
    """Per projection, each command's lag: first observation covering its checkpoint - commit."""
    lags: dict[str, list[float]] = {}
    for name in PROJECTIONS:
        seen = [(tx, pos, at) for at, n, tx, pos in observations if n == name]
        keys = [(tx, pos) for tx, pos, _at in seen]
        own: list[float] = []
        for committed, tx, pos in commands:
            index = bisect.bisect_left(keys, (tx, pos))
            if index < len(seen):
                own.append(seen[index][2] - committed)
        lags[name] = own
    # "all three": the moment the last of the three covered the command.
    per_command = zip(*(lags[name] for name in PROJECTIONS), strict=False)
    lags["all three"] = [max(values) for values in per_command]
    return lags


def paced_run(
    rng: random.Random, clock: CommitClock, rate: float, seconds: float
) -> tuple[list[tuple[float, int, int]], float]:
    from eventstore.store import checkpoint_at

    commands: list[tuple[float, int, int]] = []
    interval = 1.0 / rate
    started = time.perf_counter()
    n = 0
    while True:
        due = started + n * interval
        now = time.perf_counter()
        if due - started >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        committed, position = issue(rng, clock)
        ck = checkpoint_at(position)
        assert ck is not None
        commands.append((committed, ck.tx_id, ck.position))
        n += 1
    return commands, time.perf_counter() - started


def wait_caught_up(timeout: float = 60.0) -> None:
    from eventstore.store import head_position
    from projections.models import ProjectionState

    deadline = time.monotonic() + timeout
    head = head_position()
    while time.monotonic() < deadline:
        states = ProjectionState.objects.filter(active=True, name__in=PROJECTIONS)
        if len(states) == len(PROJECTIONS) and all(s.position >= head for s in states):
            return
        time.sleep(0.05)
    raise TimeoutError("the projections did not catch up")


def noop_latency(rate: float, seconds: float, tag: str) -> tuple[list[float], float, float]:
    """Publish no-ops at ``rate``; their latencies, the rate achieved, the worker's run rate."""
    total = int(rate * seconds)
    interval = 1.0 / rate
    started = time.perf_counter()
    for n in range(total):
        due = started + n * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        noop.apply_async((time.time(), tag))
    achieved = total / (time.perf_counter() - started)
    pairs = wait_for_noop(tag, total, 120.0)
    ran = sorted(r for _s, r in pairs)
    worker_rate = (len(ran) - 1) / (ran[-1] - ran[0]) if len(ran) > 1 else float("nan")
    return [r - s for s, r in pairs], achieved, worker_rate


def task_timings(since: float) -> tuple[list[float], list[float]]:
    """Durations of catch-up tasks that started after ``since``, and their start times."""
    durations, starts = [], []
    for raw in _redis().lrange(TASKS_KEY, 0, -1):
        start, end = (float(x) for x in raw.split())
        if start >= since:
            durations.append(end - start)
            starts.append(start)
    return durations, sorted(starts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lag", description=__doc__)
    parser.add_argument("--rate-seconds", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=15.0, help="paced run length")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the max command rate")
    parser.add_argument("--noop-rate", type=float, default=200.0)
    parser.add_argument("--noop-seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="worker processes (1: solo pool; else prefork)"
    )
    args = parser.parse_args(argv)

    from bench.common import machine_note

    env = setup(DB_NAME)
    app.conf.task_default_queue = QUEUE  # route this process's messages to the bench queue
    _redis().flushdb()  # db 13 belongs to this bench
    rng = random.Random(args.seed)
    print(
        f"bench.lag: database {DB_NAME}, broker {BROKER}, queue {QUEUE}, "
        f"worker processes {args.concurrency}, {machine_note()}"
    )

    log = Path(tempfile.gettempdir()) / f"bench_lag_worker_{os.getpid()}.log"
    worker = start_worker(env, log, args.concurrency)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    listener = None
    try:
        wait_for_worker(worker, log)
        print(f"  worker pid {worker.pid} is up (log {log})")
        with CommitClock() as clock:
            max_rate = max_command_rate(rng, clock, args.rate_seconds)
            print(f"  max command rate (CreateOrder, 1 thread, worker running): {max_rate:.0f}/s")
            wait_caught_up()
            barrier("after-max")

            ready, results = ctx.Event(), ctx.Queue()
            listener = ctx.Process(target=listen, args=(env["DATABASE_URL"], ready, stop, results))
            listener.start()
            if not ready.wait(30):
                raise RuntimeError("the listener did not start")
            target_rate = max_rate * args.fraction
            since = time.time()
            commands, elapsed = paced_run(rng, clock, target_rate, args.seconds)
            wait_caught_up()
            backlog = _redis().llen(QUEUE)
            time.sleep(0.2)
            stop.set()
            observations = results.get(timeout=30)
            listener.join(timeout=10)

        print(
            f"  paced run: {len(commands)} commands in {elapsed:.1f}s = "
            f"{len(commands) / elapsed:.0f}/s (asked {target_rate:.0f}/s)"
        )
        lags = first_visible(observations, commands)
        print("  commit -> visible in the read model:")
        for name in (*PROJECTIONS, "all three"):
            print(f"    {name:<20} {describe(lags[name])}")
        print(f"  catch_up messages still queued when the read side had caught up: {backlog}")
        barrier("drained", timeout=300)  # every catch_up sent so far has run
        durations, starts = task_timings(since)
        waits = []
        for committed, _tx, _pos in commands:
            index = bisect.bisect_left(starts, committed)
            if index < len(starts):
                waits.append(starts[index] - committed)
        print(
            f"  catch_up tasks (one per command) since the paced run began: {len(durations)}; "
            f"duration {describe(durations)}"
        )
        print(f"  commit -> next catch_up task starts: {describe(waits)}")

        for tag, noop_rate, noop_seconds in (
            ("measure", args.noop_rate, args.noop_seconds),
            ("slow", 20.0, 2.0),  # the floor: a worker that is never behind
        ):
            barrier(f"before-{tag}")
            latencies, achieved, worker_rate = noop_latency(noop_rate, noop_seconds, tag)
            print(
                f"  no-op task publish -> run, published at {achieved:.0f}/s: "
                f"{describe(latencies)}; the worker ran them at {worker_rate:.0f}/s"
            )

        order_lags = lags["order_views"]
        p50, p99 = percentile_ms(order_lags, 0.5), percentile_ms(order_lags, 0.99)
        ok = p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS
        print(
            f"\nsummary: order_views lag p50 {p50:.1f} ms (target <= {TARGET_P50_MS:.0f}), "
            f"p99 {p99:.1f} ms (target <= {TARGET_P99_MS:.0f}) at {target_rate:.0f} commands/s "
            f"-> {'targets met' if ok else 'BELOW target'}"
        )
        print(f"  (load after run: {machine_note()})")
        return 0
    finally:
        stop.set()
        if listener is not None and listener.is_alive():
            listener.terminate()
            listener.join(timeout=5)
        stop_worker(worker)


if __name__ == "__main__":
    raise SystemExit(main())
