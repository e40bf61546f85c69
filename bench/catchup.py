"""Catch-up throughput: replay a large log into the three projections from zero.

    python -m bench.catchup [--events 200000] [--profile] [--seed 7]

Fills a fresh PostgreSQL database (``bench_catchup``, dropped and recreated) with a realistic
order log (OrderCreated with 2-3 items, some OrderItemAdded, OrderShipped / OrderCancelled,
payloads exactly as orders.domain.events write them), then:

1. a raw-SQL baseline: a loop reading 500 events past a checkpoint in (tx_id, global_position)
   order and writing one multi-row upsert into a simple order table plus a compare-and-swap
   checkpoint update, in one transaction per batch - the speed limit of a projector here;
2. ``projections.runner.run(name)`` for order_views, customer_summaries and daily_sales, each
   from an empty checkpoint, timed one after the other, with a split of where the time goes
   (reading the log / applying the batch / moving the checkpoint, database vs Python).

``--profile`` also runs each projection under cProfile (use a smaller --events with it).
Runs with DJANGO_DEBUG off (as production does) unless DJANGO_DEBUG is already set.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.common import checkpoint, database_url, machine_note, rate, setup_django

DB_NAME = "bench_catchup"
PROJECTIONS = ("order_views", "customer_summaries", "daily_sales")
TARGET_RATIO = 0.5
TARGET_RATE = 15_000
BATCH = 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) a PostgreSQL backend process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Result:
    """Events read, wall seconds, and CPU seconds of this process and of its database backend.

    CPU per event barely depends on what else runs on the machine; wall time does.
    """

    read: int
    seconds: float
    python_cpu: float = 0.0
    postgres_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return rate(self.read, self.seconds)

    def cpu_note(self) -> str:
        if not self.read:
            return ""
        py = 1e6 * self.python_cpu / self.read
        pg = 1e6 * self.postgres_cpu / self.read
        return (
            f"CPU per event: python {py:5.1f} us + postgres {pg:5.1f} us "
            f"(= {rate(1, (py + pg) / 1e6):,.0f} ev/s if it had the CPU to itself)"
        )


@contextmanager
def metered(result: Result, backend_pid: int) -> Iterator[Result]:
    wall, cpu, pg = time.perf_counter(), time.process_time(), backend_cpu(backend_pid)
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - wall
        result.python_cpu = time.process_time() - cpu
        result.postgres_cpu = backend_cpu(backend_pid) - pg


# --- the log ------------------------------------------------------------------------------------
CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Oslo", "Turin")
CARRIERS = ("DHL", "UPS", "FedEx", "GLS", "PostNL")
REASONS = ("customer request", "payment failed", "out of stock", "duplicate order")


def _price(rng: random.Random) -> str:
    cents = rng.randint(199, 49_999)
    return f"{cents // 100}.{cents % 100:02d}"


def generate_log(count: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """Yield ``count`` eventstore_event rows (without tx_id and position) in log order.

    Orders are created in sequence; their later events (items added, shipped or cancelled)
    follow a few thousand events later, interleaved with other orders, as in production.
    Payloads come from the domain's own event classes, so they are exactly what commands store.
    """
    from orders.domain import events as ev
    from orders.domain.values import Address, LineItem

    rng = random.Random(seed)
    customers = [f"customer-{i:05d}" for i in range(max(50, count // 25))]
    products = [(f"SKU-{i:05d}", _price(rng)) for i in range(2_000)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    orders_needed = int(count / 2.0) + 10
    step = timedelta(days=60) / orders_needed  # the log spans about two months

    scheduled: list[tuple[float, int, ev.DomainEvent]] = []
    for n in range(orders_needed):
        order_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        chosen = rng.sample(products, rng.choice((2, 3)))
        items = tuple(LineItem(pid, rng.randint(1, 4), Decimal(price)) for pid, price in chosen)
        address = Address(f"{rng.randint(1, 400)} Main St", rng.choice(CITIES), "1000", "PT")
        key = float(n)
        scheduled.append(
            (key, n, ev.OrderCreated(order_id, rng.choice(customers), "EUR", items, address))
        )
        if rng.random() < 0.3:
            for _ in range(rng.choice((1, 1, 2))):
                key += rng.uniform(1, 1500)
                pid, price = rng.choice(products)
                item = LineItem(pid, rng.randint(1, 3), Decimal(price))
                scheduled.append((key, n, ev.OrderItemAdded(order_id, item)))
        fate = rng.random()
        key += rng.uniform(1, 3000)
        if fate < 0.6:
            tracking = f"TRK{rng.getrandbits(40):012d}"
            scheduled.append((key, n, ev.OrderShipped(order_id, rng.choice(CARRIERS), tracking)))
        elif fate < 0.75:
            scheduled.append((key, n, ev.OrderCancelled(order_id, rng.choice(REASONS))))
    scheduled.sort(key=lambda s: (s[0], s[1]))

    versions: dict[uuid.UUID, int] = {}
    command_types = {
        "OrderCreated": "CreateOrder",
        "OrderItemAdded": "AddOrderItem",
        "OrderShipped": "ShipOrder",
        "OrderCancelled": "CancelOrder",
    }
    for key, _n, event in scheduled[:count]:
        version = versions[event.order_id] = versions.get(event.order_id, 0) + 1
        command_id = str(uuid.uuid4())
        metadata = {
            "command_id": command_id,
            "command_type": command_types[event.event_type],
            "correlation_id": command_id,
            "causation_id": command_id,
            "actor": "bench",
        }
        yield (
            uuid.uuid4(),
            f"Order-{event.order_id}",
            "Order",
            version,
            event.event_type,
            event.schema_version,
            json.dumps(event.to_payload(), separators=(",", ":")),
            json.dumps(metadata, separators=(",", ":")),
            start + step * key,
        )


def fill_log(count: int, seed: int, *, per_transaction: int = 2_000) -> float:
    """COPY the generated log in, ``per_transaction`` events per transaction; returns seconds.

    tx_id keeps its default (pg_current_xact_id()), so the rows are exactly what appends write.
    """
    import psycopg

    columns = (
        "event_id, stream_id, stream_type, version, event_type, schema_version, data, metadata, "
        "recorded_at"
    )
    started = time.perf_counter()
    with psycopg.connect(database_url(DB_NAME)) as conn:
        rows = generate_log(count, seed)
        done = False
        while not done:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY eventstore_event ({columns}) FROM STDIN") as copy,
            ):
                for _ in range(per_transaction):
                    row = next(rows, None)
                    if row is None:
                        done = True
                        break
                    copy.write_row(row)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE eventstore_event")  # hint bits set: every reader pays alike
    return time.perf_counter() - started


# --- the raw-SQL baseline -----------------------------------------------------------------------
RAW_SETUP = """
CREATE TABLE bench_raw_order (
    order_id uuid PRIMARY KEY,
    status text NOT NULL,
    total numeric(16, 2) NOT NULL,
    item_count integer NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE bench_raw_checkpoint (
    name text PRIMARY KEY, tx_id bigint NOT NULL, position bigint NOT NULL
);
INSERT INTO bench_raw_checkpoint VALUES ('raw', 0, 0);
"""

# ORDER BY names the table's columns: a bare "tx_id" would resolve to the output column
# tx_id::text::bigint and make PostgreSQL sort everything past the checkpoint on every batch.
RAW_READ = """
SELECT global_position, event_type, data, recorded_at, tx_id::text::bigint
FROM eventstore_event
WHERE (tx_id, global_position) > (%s::text::xid8, %s)
  AND tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
ORDER BY eventstore_event.tx_id, eventstore_event.global_position
LIMIT %s
"""

RAW_UPSERT = """
INSERT INTO bench_raw_order AS t (order_id, status, total, item_count, updated_at)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::numeric[], %s::int[], %s::timestamptz[])
ON CONFLICT (order_id) DO UPDATE SET
    status = CASE WHEN excluded.status = '' THEN t.status ELSE excluded.status END,
    total = t.total + excluded.total,
    item_count = t.item_count + excluded.item_count,
    updated_at = excluded.updated_at
"""

RAW_ADVANCE = """
UPDATE bench_raw_checkpoint SET tx_id = %s, position = %s
WHERE name = 'raw' AND tx_id = %s AND position = %s
"""

_RAW_STATUS = {"OrderCreated": "pending", "OrderShipped": "shipped", "OrderCancelled": "cancelled"}


def raw_baseline() -> Result:
    """The speed limit: read 500, fold per order in Python, one upsert + checkpoint, commit."""
    import psycopg

    with psycopg.connect(database_url(DB_NAME)) as conn:
        conn.execute(RAW_SETUP)
        conn.commit()
        with metered(Result(0, 0.0), conn.info.backend_pid) as result:
            result.read = _raw_loop(conn)
        return result


def _raw_loop(conn: Any) -> int:
    ck_tx, ck_pos, read = 0, 0, 0
    while True:
        with conn.transaction():
            rows = conn.execute(RAW_READ, (ck_tx, ck_pos, BATCH)).fetchall()
            if not rows:
                return read
            orders: dict[str, list[Any]] = {}
            for _pos, event_type, data, recorded_at, _tx in rows:
                slot = orders.get(data["order_id"])
                if slot is None:
                    slot = orders[data["order_id"]] = ["", Decimal(0), 0, recorded_at]
                if event_type == "OrderCreated":
                    for item in data["items"]:
                        slot[1] += Decimal(item["unit_price"]) * item["quantity"]
                        slot[2] += item["quantity"]
                elif event_type == "OrderItemAdded":
                    slot[1] += Decimal(data["unit_price"]) * data["quantity"]
                    slot[2] += data["quantity"]
                slot[0] = _RAW_STATUS.get(event_type, slot[0])
                slot[3] = recorded_at
            columns = list(zip(*((k, *v) for k, v in orders.items()), strict=True))
            conn.execute(RAW_UPSERT, [list(c) for c in columns])
            last_pos, last_tx = rows[-1][0], rows[-1][4]
            moved = conn.execute(RAW_ADVANCE, (last_tx, last_pos, ck_tx, ck_pos)).rowcount
            if moved != 1:
                raise RuntimeError("raw checkpoint moved concurrently")
            ck_tx, ck_pos = last_tx, last_pos
            read += len(rows)


# --- where the projector's time goes ------------------------------------------------------------
class Breakdown:
    """Wall time of the runner's phases and, inside each, time spent in database calls."""

    PHASES = ("read", "apply", "advance")

    def __init__(self) -> None:
        self.wall = dict.fromkeys(self.PHASES, 0.0)
        self.db = dict.fromkeys((*self.PHASES, "other"), 0.0)
        self.queries = dict.fromkeys((*self.PHASES, "other"), 0)
        self.batches: list[float] = []  # wall time of each apply, to see it grow (or not)
        self.phase = "other"

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer, self.phase = self.phase, phase
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self.wall[phase] += elapsed
                if phase == "apply":
                    self.batches.append(elapsed)
                self.phase = outer

        return timed

    def execute_wrapper(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.db[self.phase] += time.perf_counter() - started
            self.queries[self.phase] += 1

    def report(self, total: float) -> str:
        parts = []
        for phase in self.PHASES:
            wall, db = self.wall[phase], self.db[phase]
            if wall and not self.queries[phase]:  # a raw psycopg cursor: Django can't see it
                parts.append(f"{phase} {wall:6.2f}s ({100 * wall / total:4.1f}%, db time unseen)")
                continue
            parts.append(
                f"{phase} {wall:6.2f}s ({100 * wall / total:4.1f}%: db {db:5.2f}s "
                f"/ python {wall - db:5.2f}s, {self.queries[phase]} queries)"
            )
        rest = total - sum(self.wall.values())
        parts.append(f"runner rest {rest:5.2f}s (db {self.db['other']:.2f}s)")
        if len(self.batches) >= 10:
            tenth = len(self.batches) // 10
            first = 1000 * sum(self.batches[:tenth]) / tenth
            last = 1000 * sum(self.batches[-tenth:]) / tenth
            parts.append(
                f"apply per batch: first tenth {first:.1f} ms, last tenth {last:.1f} ms "
                f"({len(self.batches)} batches)"
            )
        return "\n      ".join(parts)


@contextmanager
def instrumented(breakdown: Breakdown) -> Iterator[None]:
    from django.db import connection

    from projections import base, runner

    saved_read, saved_advance = runner.read_all, runner._advance
    runner.read_all = breakdown.wrap("read", saved_read)
    runner._advance = breakdown.wrap("advance", saved_advance)
    patched = []
    for projection in base.all_projections():
        patched.append(projection)
        projection.apply = breakdown.wrap("apply", projection.apply)  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(breakdown.execute_wrapper):
            yield
    finally:
        runner.read_all, runner._advance = saved_read, saved_advance
        for projection in patched:
            del projection.apply


def profile_top(profiler: cProfile.Profile, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


class BudgetSpent(Exception):
    """Raised from the progress callback (after a batch committed) to stop a long catch-up."""


class Budget:
    """The runner's progress callback: counts events and stops the run once time is up."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds
        self.read = 0

    def __call__(self, batch: int) -> None:
        self.read += batch
        if time.perf_counter() > self.deadline:
            raise BudgetSpent


def verify_against_raw() -> str:
    """Compare the order_views read model with the raw baseline's table (same log, both done)."""
    from django.db import connection

    sql = """
        SELECT (SELECT row(count(*), sum(v.total_amount), sum(v.item_count),
                           count(*) FILTER (WHERE v.status = 'shipped'))::text
                FROM projections_orderview v JOIN projections_projectionstate s
                  ON s.name = 'order_views' AND s.active AND v.generation = s.generation),
               (SELECT row(count(*), sum(total), sum(item_count),
                           count(*) FILTER (WHERE status = 'shipped'))::text
                FROM bench_raw_order)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        ours, raw = cursor.fetchone()
    verdict = "match" if ours == raw else "DIFFER"
    return f"order_views vs raw table (orders, total, items, shipped): {ours} / {raw}: {verdict}"


def django_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def run_projections(count: int, *, profile: bool, budget: float) -> dict[str, Result]:
    from projections import runner

    results: dict[str, Result] = {}
    breakdown = Breakdown()
    pid = django_backend_pid()  # CONN_MAX_AGE keeps this one connection for the whole run
    for name in PROJECTIONS:
        runner.active_state(name)
        breakdown.reset()
        progress = Budget(budget)
        with (
            instrumented(breakdown),
            metered(Result(0, 0.0), pid) as result,
            suppress(BudgetSpent),
        ):
            runner.run(name, progress=progress)
        result.read = progress.read
        if django_backend_pid() != pid:
            result.postgres_cpu = float("nan")  # reconnected: the backend's CPU is unknown
        results[name] = result
        print(
            f"  {name:<20} {result.read:>8} events in {result.seconds:7.2f}s "
            f"= {result.rate:>8.0f} ev/s"
        )
        print(f"      {result.cpu_note()}")
        print(f"      {breakdown.report(result.seconds)}")
        if result.read != count:
            print(
                f"  !! {name} stopped after its {budget:.0f}s budget at {result.read} of {count} "
                f"events: its rate is over that part of the log only"
            )
    if profile:
        for name in PROJECTIONS:
            target = runner.start_rebuild(name)
            profiler = cProfile.Profile()
            profiler.enable()
            with suppress(BudgetSpent):
                runner.run(name, generation=target.generation, progress=Budget(budget))
            profiler.disable()
            print(f"\n--- cProfile: {name} (new generation {target.generation}) ---")
            print(profile_top(profiler))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.catchup", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="log size (default 200000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="also run each under cProfile")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-SQL baseline")
    parser.add_argument(
        "--budget",
        type=float,
        default=45.0,
        help="stop a projection's catch-up after this many seconds (default 45) and report the "
        "rate over the part it applied; keeps the whole run under about 4 minutes",
    )
    args = parser.parse_args(argv)

    setup_django(DB_NAME)
    from django.conf import settings

    print(f"bench.catchup: {args.events} events, database {DB_NAME}, {machine_note()}")
    print(
        f"  DEBUG={settings.DEBUG}, PROJECTION_BATCH_SIZE={settings.PROJECTION_BATCH_SIZE}, "
        f"python {sys.version.split()[0]}"
    )
    fill_seconds = fill_log(args.events, args.seed)
    checkpoint(DB_NAME)  # the timed runs do not pay for flushing the fill's dirty pages
    print(f"  filled the log in {fill_seconds:.1f}s ({rate(args.events, fill_seconds):.0f} ev/s)")

    raw = None if args.no_raw else raw_baseline()
    if raw is not None:
        print(
            f"  raw SQL baseline     {raw.read:>8} events in {raw.seconds:7.2f}s "
            f"= {raw.rate:>8.0f} ev/s\n      {raw.cpu_note()}"
        )

    results = run_projections(args.events, profile=args.profile, budget=args.budget)
    # Through all three: the time one log event takes to reach every read model when the three
    # catch up one after the other (as the catch_up task runs them) = 1 / sum(1 / rate).
    overall = Result(
        read=args.events,
        seconds=sum(args.events / r.rate for r in results.values()),
        python_cpu=sum(args.events * r.python_cpu / r.read for r in results.values()),
        postgres_cpu=sum(args.events * r.postgres_cpu / r.read for r in results.values()),
    )
    summed = sum(r.read for r in results.values()) / sum(r.seconds for r in results.values())
    print(f"  all three: {overall.rate:.0f} log ev/s ({summed:.0f} ev/s applied, summed)")
    if raw is not None and results["order_views"].read == args.events:
        print(f"  check: {verify_against_raw()}")

    print(f"\nsummary (targets: >= {TARGET_RATIO}x raw and >= {TARGET_RATE} ev/s)")
    print(
        f"  {'':<20} {'ev/s':>8} {'CPU us/event py+pg':>19} {'CPU-bound ev/s':>15} {'x raw':>6}"
        f"  target"
    )
    failed = False
    rows = [*results.items(), ("overall (all three)", overall)]
    for name, result in rows:
        ratio = result.rate / raw.rate if raw else float("nan")
        ok = result.rate >= TARGET_RATE and (raw is None or ratio >= TARGET_RATIO)
        failed |= not ok
        print(f"  {name:<20} {_summary_columns(result)} {ratio:>5.2f}x  {'ok' if ok else 'BELOW'}")
    if raw is not None:
        print(f"  {'raw SQL baseline':<20} {_summary_columns(raw)} {1.0:>5.2f}x")
    print(f"  (load after run: {machine_note()})")
    print("  verdict:", "below target" if failed else "targets met")
    return 0


def _summary_columns(result: Result) -> str:
    py = 1e6 * result.python_cpu / result.read if result.read else float("nan")
    pg = 1e6 * result.postgres_cpu / result.read if result.read else float("nan")
    cpu_bound = rate(1, (py + pg) / 1e6)
    return f"{result.rate:>8.0f} {py:>9.1f} + {pg:<7.1f} {cpu_bound:>15,.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
