"""Sharded projections: catch-up with one worker against two, and live lag with 4 shards.

    python -m bench.shards [--events 200000] [--rounds 2] [--seconds 15] [--rate 60]
    ./scripts/bench.sh shards          (run it under: flock /tmp/bench.lock ...)

In a fresh database ``bench_shards`` (dropped, recreated, migrated) filled with an order log
(bench.catchup.generate_log, COPYed in):

1. **Catch-up.** order_views replays the whole backlog into a new generation (its tables
   detached, as a rebuild does) with 1 shard on 1 worker process, then with 2 shards on 2
   worker processes, one shard each, in rounds alternating the order. A worker process runs
   the engine's own loop (``runner.run(name, generation=, shard=)``, what a Celery worker's
   catch-up runs), so the figure is the engine's, without Celery around it. Wall time from the
   start of the workers to the last one done; CPU seconds of the worker processes (their own
   ``process_time``) and of PostgreSQL (the backends of the database, from /proc) and the rest
   of the machine (/proc/stat). The target (issue 18): 2 workers on 2 shards >= 1.3x.
2. **Lag.** Two real Celery workers (``--pool=solo``, a queue of their own on Redis db 13,
   as bench.lag's: benchmarks run one at a time)
   apply the projections while 4 threads send CreateOrder commands at ``--rate`` per second
   for ``--seconds``: once with order_views as 1 shard, then as 4 shards (a rebuild between).
   A command's lag: from its commit to the moment its order's shard's checkpoint covers its
   event (a monitor reads the checkpoints every 2 ms). p50 / p99 / max.

The machine has 2 cores that PostgreSQL shares with the workers; other agents may be using
them too: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import ServerCpu, checkpoint, database_url, machine_note, recreate_database

DB_NAME = os.environ.get("BENCH_SHARDS_DB", "bench_shards")
BROKER = os.environ.get("BENCH_SHARDS_BROKER", "redis://127.0.0.1:6379/13")  # as bench.lag
QUEUE = "bench_shards"
ROOT = Path(__file__).resolve().parent.parent
NAME = "order_views"
TARGET_SPEEDUP = 1.3


def _machine_cpu() -> float:
    from bench.catchup import machine_cpu

    return machine_cpu()


# --- 1. catch-up: one worker process per shard ------------------------------------------------
def _setup(*, recreate: bool) -> None:
    """bench.common.setup_django, with Celery on Redis (db 2, a queue of its own) rather than
    eager: commands wake the Celery workers as in production."""
    os.environ["CELERY_BROKER_URL"] = BROKER
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
    os.environ["DATABASE_URL"] = database_url(DB_NAME)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-used-for-anything-real")
    if recreate:
        recreate_database(DB_NAME)
    import django

    django.setup()
    if recreate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def run_shard(generation: int, shard: int) -> None:
    """In a worker process: apply ``shard`` of ``generation`` until the log is read."""
    _setup(recreate=False)
    from projections.engine import runner

    if os.environ.get("BENCH_SHARDS_ONE_PART"):
        _one_part_for_every_shard()

    from django.db import connection

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every worker has started (Python and Django are loaded)
    started, cpu = time.perf_counter(), time.process_time()
    read = runner.run(NAME, generation=generation, shard=shard)
    print(
        json.dumps(
            {
                "shard": shard,
                "read": read,
                "seconds": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
            }
        ),
        flush=True,
    )


def _one_part_for_every_shard() -> None:
    """What the tables several shards write would cost without a part per shard: every
    shard adds its deltas to the same rows (part 0), as one row per key would make it."""
    from projections.read_models import order_views
    from projections.read_models.toolkit import tables

    add = tables.add

    def one_part(*args: Any, **kwargs: Any) -> None:
        kwargs["shard"] = 0
        terms = kwargs.get("terms")
        if terms is not None:
            kwargs["terms"] = type(terms)(terms.model, terms.rows, terms.key, terms.count, 0)
        add(*args, **kwargs)

    order_views.tables.add = one_part  # type: ignore[attr-defined]


def catch_up(shards: int, *, one_part: bool = False) -> dict[str, Any]:
    """A new generation of order_views with ``shards`` shards, caught up by as many worker
    processes at once; then attached, switched to, and the old one dropped."""
    from django.conf import settings
    from django.db import connection

    from projections.engine import generations

    settings.PROJECTION_SHARDS = {NAME: shards}
    target = generations.start_rebuild(NAME)
    connection.close()  # the workers' backends only, from here
    checkpoint(DB_NAME)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.shards", "--run-shard", str(target.generation), str(k)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={
                **os.environ,
                "PROJECTION_SHARDS": f"{NAME}={shards}",
                "BENCH_SHARDS_ONE_PART": "1" if one_part else "",
            },
        )
        for k in range(shards)
    ]
    for worker in workers:  # timed from when every worker is loaded and connected
        assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
    backends = _Backends()
    backends.sample()
    machine = _machine_cpu()
    started = time.perf_counter()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        worker.stdin.flush()
    samples = waiting = 0
    while any(w.poll() is None for w in workers):
        backends.sample()
        samples += 1
        waiting += backends.waiting_for_locks()
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    machine_used = _machine_cpu() - machine
    reports = [_last_json(w) for w in workers]
    postgres = backends.used()
    # Backends that ended with their worker are gone from /proc: count what the machine used
    # beyond the workers instead when that is more (PostgreSQL's background processes too).
    workers_cpu = sum(r["cpu"] for r in reports)
    rest = max(0.0, machine_used - workers_cpu)
    read = sum(r["read"] for r in reports)
    state = generations.rebuilding_state(NAME)
    assert state is not None
    generations.attach(state)
    generations.switch(generations.active_state(NAME), state)
    generations.purge_retired(grace=timedelta(0))
    return {
        "shards": shards,
        "one_part": one_part,
        "lock_wait_share": waiting / samples if samples else 0.0,
        "read": read,
        "seconds": seconds,
        "rate": read / seconds,
        "workers_cpu": workers_cpu,
        "postgres_cpu": postgres,
        "machine_rest_cpu": rest,
        "per_shard": reports,
    }


class _Backends:
    """CPU seconds of the database's backends, sampled while they live (a worker's backend
    ends with it: its last sample counts)."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def sample(self) -> None:
        for pid in ServerCpu(DB_NAME)._backends():
            used = ServerCpu.process_seconds(pid)
            if used is not None:
                self.first.setdefault(pid, used)
                self.last[pid] = used

    def waiting_for_locks(self) -> int:
        """The database's backends waiting for a lock (a row another transaction wrote)."""
        import psycopg

        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock'",
                [DB_NAME],
            ).fetchone()
        return int(row[0]) if row else 0

    def used(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.first)


def _last_json(worker: subprocess.Popen[bytes]) -> dict[str, Any]:
    output = worker.stdout.read().decode() if worker.stdout else ""
    if worker.returncode != 0 or not output.strip():
        raise RuntimeError(f"a shard worker failed ({worker.returncode}): {output[-2000:]}")
    report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return report


# --- 2. lag: two Celery workers, commands at a steady rate -------------------------------------
def _celery_env(shards: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "PROJECTION_SHARDS": f"{NAME}={shards}",
        "LOG_LEVEL": "WARNING",
    }


def _start_workers(shards: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-Q",
                QUEUE,
                "-n",
                f"bench-shards-{n}@%h",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=_celery_env(shards),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n in range(2)
    ]


def _start_beat(shards: int, folder: str) -> subprocess.Popen[bytes]:
    """Celery beat, as production runs it: its sweep (every 3 s) wakes what a lost wake-up
    or an event not yet readable at its last look left behind."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=WARNING",
            "--schedule",
            f"{folder}/beat.schedule",
            "--pidfile",
            f"{folder}/beat.pid",
        ],
        cwd=ROOT,
        env=_celery_env(shards),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=20)


def lag(shards: int, seconds: float, rate: float) -> dict[str, Any]:
    """Commands at ``rate`` per second for ``seconds`` with order_views as ``shards`` shards on
    two Celery workers; each command's lag until its shard has applied it."""
    from django.conf import settings
    from django.db import connection

    from eventstore.store import Checkpoint
    from orders.domain import commands as cmd
    from orders.domain.values import Address, LineItem
    from orders.services import execute_command
    from projections.engine import generations, runner
    from projections.models import ProjectionState

    settings.PROJECTION_SHARDS = {NAME: shards}
    if generations.active_state(NAME).shards != shards:  # a new count is a rebuild
        from projections.engine.rebuild import rebuild

        rebuild(NAME)
    for name in ("customer_summaries", "daily_sales", NAME):  # nothing left behind
        for state in ProjectionState.objects.filter(name=name, active=True):
            runner.run(name, shard=state.shard)
    connection.close()
    folder = tempfile.mkdtemp(prefix="bench-shards-beat-")
    workers = [*_start_workers(shards), _start_beat(shards, folder)]
    time.sleep(4.0)  # workers up (they catch up what is left)
    pending: dict[int, tuple[float, int, Checkpoint]] = {}  # position -> (commit, shard, ck)
    lags: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def monitor() -> None:
        try:
            # Until the writers are done and every command is seen applied (or 30 s passed).
            while not written.is_set() or (pending and time.perf_counter() < stop_at[0] + 30):
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT shard, tx_id, position FROM projections_projectionstate "
                        "WHERE name = %s AND active",
                        [NAME],
                    )
                    cursors = {s: Checkpoint(tx, pos) for s, tx, pos in cursor.fetchall()}
                now = time.perf_counter()
                with lock:
                    for position, (committed, shard, ck) in list(pending.items()):
                        if cursors.get(shard, Checkpoint()) >= ck:
                            lags.append(now - committed)
                            del pending[position]
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def writer(number: int) -> None:
        period = 4 / rate
        next_at = time.perf_counter()
        try:
            while not stop.is_set():
                order = cmd.CreateOrder(
                    customer_id=f"bench-{number}-{uuid.uuid4().hex[:6]}",
                    items=(LineItem("SKU-1", 1, Decimal("9.99")),),
                    shipping_address=Address("1 Main St", "Lisbon", "1000", "PT"),
                    currency="EUR",
                )
                result = execute_command(order, actor="bench", correlation_id=str(uuid.uuid4()))
                committed = time.perf_counter()
                position = _position_of(result)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT tx_id::text::bigint, hashtextextended(stream_id, 0) & 15 "
                        "FROM eventstore_event WHERE global_position = %s",
                        [position],
                    )
                    tx, bucket = cursor.fetchone()
                with lock:
                    pending[position] = (committed, bucket % shards, Checkpoint(tx, position))
                next_at += period
                time.sleep(max(0.0, next_at - time.perf_counter()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    stop_at = [0.0]
    written = threading.Event()
    watcher = threading.Thread(target=monitor)
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in [watcher, *writers]:
        thread.start()
    time.sleep(seconds)
    stop_at[0] = time.perf_counter()
    stop.set()
    for thread in writers:
        thread.join(timeout=60)
    written.set()
    watcher.join(timeout=60)
    _stop(workers)
    if errors:
        raise errors[0]
    ordered = sorted(lags)

    def quantile(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    return {
        "shards": shards,
        "commands": len(ordered),
        "left_unapplied": len(pending),
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "max_ms": 1000 * ordered[-1] if ordered else 0.0,
        "mean_ms": 1000 * statistics.fmean(ordered) if ordered else 0.0,
    }


def _position_of(outcome: Any) -> int:
    from orders import idempotency

    return int(idempotency.result_body(outcome.result)["position"])


def _print_catch_up(result: dict[str, Any]) -> None:
    shards = result["shards"]
    label = f"{shards} shard(s) on {shards} worker(s)"
    if result["one_part"]:
        label += ", one part of each count row for all shards (hot rows)"
    print(
        f"catch-up, {label}: {result['read']:,} events in {result['seconds']:.1f} s = "
        f"{result['rate']:,.0f} ev/s; CPU workers {result['workers_cpu']:.1f} s, postgres "
        f"backends {result['postgres_cpu']:.1f} s, rest of the machine "
        f"{max(0.0, result['machine_rest_cpu'] - result['postgres_cpu']):.1f} s; a backend "
        f"waiting for a lock in {100 * result['lock_wait_share']:.0f} % of samples "
        f"({machine_note()})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-catch-up", action="store_true")
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument(
        "--hot-row", action="store_true", help="also 2 shards writing one part of each count row"
    )
    parser.add_argument("--run-shard", nargs=2, type=int, metavar=("GENERATION", "SHARD"))
    args = parser.parse_args(argv)
    if args.run_shard:
        run_shard(*args.run_shard)
        return 0
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    _setup(recreate=True)
    from bench.catchup import fill_log, wait_until_visible

    print(f"bench.shards: {machine_note()}", flush=True)
    print(f"filling {args.events:,} events ...", flush=True)
    fill_log(args.events, args.seed, database=DB_NAME)
    wait_until_visible(DB_NAME)
    results: dict[str, Any] = {"machine": machine_note(), "catch_up": [], "lag": []}
    if not args.skip_catch_up:
        for number in range(args.rounds):
            for shards in (1, 2) if number % 2 == 0 else (2, 1):
                result = catch_up(shards)
                results["catch_up"].append(result)
                _print_catch_up(result)
        if args.hot_row:
            result = catch_up(2, one_part=True)
            results["catch_up"].append(result)
            _print_catch_up(result)
        one = [r["seconds"] for r in results["catch_up"] if r["shards"] == 1]
        two = [r["seconds"] for r in results["catch_up"] if r["shards"] == 2 and not r["one_part"]]

        speedups = [a / b for a, b in zip(one, two, strict=False)]
        print(
            f"speed-up 2 workers / 1: median {statistics.median(speedups):.2f}x "
            f"[{min(speedups):.2f}-{max(speedups):.2f}] (target >= {TARGET_SPEEDUP}x)",
            flush=True,
        )
    if not args.skip_lag:
        for shards in (1, 4):
            result = lag(shards, args.seconds, args.rate)
            results["lag"].append(result)
            print(
                f"lag, order_views as {shards} shard(s) on 2 workers, {args.rate:.0f} commands/s: "
                f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max "
                f"{result['max_ms']:.1f} ms over {result['commands']} commands "
                f"({result['left_unapplied']} left unapplied; {machine_note()})",
                flush=True,
            )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "shards.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
