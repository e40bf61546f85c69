"""Catch-up throughput: replay a large log into the three projections from zero.

    python -m bench.catchup [--events 200000] [--rounds 3] [--only NAME] [--profile] [--seed 7]

Fills a fresh PostgreSQL database (``bench_catchup``, dropped and recreated) with a realistic
order log (OrderCreated with 2-3 items, some OrderItemAdded, OrderShipped / OrderCancelled,
payloads exactly as orders.domain.events write them), then measures, round after round, each of:

1. raw-SQL baselines: a loop reading a batch of events (PROJECTION_CATCHUP_BATCH_SIZE, as
   large as the projector's when it catches up) past a checkpoint in (tx_id, global_position)
   order and writing one multi-row upsert into a simple order table plus a compare-and-swap
   checkpoint update, in one transaction per batch - the speed limit of a projector here
   ("raw, minimal table"); and order_views' work by hand ("raw, order view");
2. ``projections.engine.rebuild.rebuild(name)`` (what ``rebuild_projection`` runs) for order_views,
   customer_summaries and daily_sales: each replays the whole log into a new generation,
   whose tables stay detached with only their unique keys until it has caught up, are then
   attached (PostgreSQL builds their other indexes) and switched to. Timed from start to
   switch, with a split of where the time goes (reading the log / applying the batch / moving
   the checkpoint). The targets (>= 0.5x the minimal raw loop, >= 15,000 events/s) apply to
   each projection; "all three in turn" is for information.

Each system runs in a fresh process (``--one SYSTEM``, a CHECKPOINT before it), and every other
round runs them in reverse order: in one long-lived process the last system measured ran
10-26 % slower than the first, which biased the ratios (issue 12). Ratios are taken within a
round; the summary gives the median and the spread [min-max] of the rounds.

CPU per event: the measured process's, and the rest of the machine's (PostgreSQL: the
projector's connections and background processes) from /proc/stat; the machine should be
otherwise idle.

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
import statistics
import subprocess
import sys
import threading
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
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds all processes of the machine have used (non-idle time), from /proc/stat.

    What the machine spent beyond this process is PostgreSQL's share: its backends (the
    projector reads ahead on a second connection) and its background writers.
    """
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


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
def metered(result: Result) -> Iterator[Result]:
    wall, cpu, machine = time.perf_counter(), time.process_time(), machine_cpu()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - wall
        result.python_cpu = time.process_time() - cpu
        result.postgres_cpu = max(0.0, machine_cpu() - machine - result.python_cpu)


# --- the log ------------------------------------------------------------------------------------
CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Oslo", "Turin")
CARRIERS = ("DHL", "UPS", "FedEx", "GLS", "PostNL")
REASONS = ("customer request", "payment failed", "out of stock", "duplicate order")


def _price(rng: random.Random) -> str:
    cents = rng.randint(199, 49_999)
    return f"{cents // 100}.{cents % 100:02d}"


def generate_log(
    count: int, seed: int, keys: dict[str, bytes] | None = None
) -> Iterator[tuple[Any, ...]]:
    """Yield ``count`` eventstore_event rows (without tx_id and position) in log order.

    Orders are created in sequence; their later events (items added, shipped or cancelled)
    follow a few thousand events later, interleaved with other orders, as in production.
    Payloads come from the domain's own event classes, so they are exactly what commands store.
    With ``keys`` their personal fields are sealed as appends seal them (eventstore.personal),
    each customer's key made into ``keys``.
    """
    from eventstore import personal
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
            units = {item.product_id: item.quantity for item in items}
            for _ in range(rng.choice((1, 1, 2))):
                key += rng.uniform(1, 1500)
                pid, price = rng.choice(products)
                item = LineItem(pid, rng.randint(1, 3), Decimal(price))
                units[pid] = units.get(pid, 0) + item.quantity  # the line after (v2)
                line = LineItem(pid, units[pid], item.unit_price)
                scheduled.append((key, n, ev.OrderItemAdded(order_id, item, line)))
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
        payload = event.to_payload()
        fields = personal.personal_fields(event.event_type) if keys is not None else None
        if keys is not None and fields is not None:
            customer = payload["customer_id"]
            subject_key = keys.setdefault(customer, personal.new_key())
            payload = personal.seal(payload, fields, customer, subject_key)
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
            json.dumps(payload, separators=(",", ":")),
            json.dumps(metadata, separators=(",", ":")),
            start + step * key,
        )


def fill_log(
    count: int,
    seed: int,
    *,
    per_transaction: int = 2_000,
    database: str = DB_NAME,
    sealed: bool = False,
) -> float:
    """COPY the generated log in, ``per_transaction`` events per transaction; returns seconds.

    tx_id keeps its default (pg_current_xact_id()), so the rows are exactly what appends write.
    """
    import psycopg

    columns = (
        "event_id, stream_id, stream_type, version, event_type, schema_version, data, metadata, "
        "recorded_at"
    )
    started = time.perf_counter()
    keys: dict[str, bytes] | None = {} if sealed else None
    with psycopg.connect(database_url(database)) as conn:
        rows = generate_log(count, seed, keys)
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
        if keys:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(
                    "COPY eventstore_personal_key (subject_id, key, created_at) FROM STDIN"
                ) as copy,
            ):
                now = datetime.now(UTC)
                for subject, subject_key in keys.items():
                    copy.write_row((subject, subject_key, now))
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE eventstore_event")  # hint bits set: every reader pays alike
        conn.execute("VACUUM ANALYZE eventstore_personal_key")
    return time.perf_counter() - started


def wait_until_visible(db_name: str = DB_NAME, timeout: float = 120.0) -> None:
    """Wait until a gap-safe reader sees the whole log: a transaction open anywhere on the
    server (another database's included) since before the fill committed holds the snapshot's
    xmin back, and every system would find less to read."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        while True:
            [(hidden,)] = conn.execute(
                "SELECT count(*) FROM eventstore_event "
                "WHERE tx_id >= pg_snapshot_xmin(pg_current_snapshot())"
            ).fetchall()
            if not hidden:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{hidden} events still invisible after {timeout:.0f}s")
            time.sleep(0.1)


# --- the raw-SQL baseline -----------------------------------------------------------------------
RAW_SETUP = """
DROP TABLE IF EXISTS bench_raw_order;
CREATE TABLE bench_raw_order (
    order_id uuid PRIMARY KEY,
    status text NOT NULL,
    total numeric(16, 2) NOT NULL,
    item_count integer NOT NULL,
    updated_at timestamptz NOT NULL
);
"""
# Each baseline runs in a process of its own, in either order, round after round: each sets up
# its own tables afresh.
RAW_CHECKPOINT_SETUP = """
CREATE TABLE IF NOT EXISTS bench_raw_checkpoint (
    name text PRIMARY KEY, tx_id bigint NOT NULL, position bigint NOT NULL
);
DELETE FROM bench_raw_checkpoint WHERE name = %s;
INSERT INTO bench_raw_checkpoint VALUES (%s, 0, 0);
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


# The same work as order_views, written by hand: a table with the order view's columns and
# indexes (full-text index included), item rows of their own, and every order's state kept in
# a dict for the whole run (no read-back, no cap): what a hand-written projector could do.
RAW_VIEW_SETUP = """
DROP TABLE IF EXISTS bench_raw_view, bench_raw_item;
CREATE TABLE bench_raw_view (
    order_id uuid PRIMARY KEY, customer_id text NOT NULL, status text NOT NULL,
    currency text NOT NULL, total_amount numeric(16, 2) NOT NULL, item_count int NOT NULL,
    shipping_address jsonb NOT NULL, created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL, shipped_at timestamptz, cancelled_at timestamptz,
    cancel_reason text, carrier text NOT NULL, tracking_number text NOT NULL,
    version int NOT NULL, search_text text NOT NULL
);
CREATE INDEX ON bench_raw_view (customer_id, created_at DESC);
CREATE INDEX ON bench_raw_view (created_at DESC);
CREATE INDEX ON bench_raw_view (status, created_at DESC);
CREATE INDEX ON bench_raw_view (total_amount);
CREATE INDEX ON bench_raw_view (item_count);
CREATE INDEX ON bench_raw_view (updated_at);
CREATE INDEX ON bench_raw_view USING gin (to_tsvector('simple', search_text));
CREATE TABLE bench_raw_item (
    order_id uuid NOT NULL, line_no int NOT NULL, product_id text NOT NULL,
    quantity int NOT NULL, unit_price numeric(12, 2) NOT NULL, line_total numeric(16, 2) NOT NULL,
    UNIQUE (order_id, product_id)
);
"""
RAW_VIEW_UPSERT = """
INSERT INTO bench_raw_view AS t
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::numeric[], %s::int[],
                     %s::jsonb[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[],
                     %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::int[], %s::text[])
ON CONFLICT (order_id) DO UPDATE SET
    status = excluded.status, total_amount = excluded.total_amount,
    item_count = excluded.item_count, shipping_address = excluded.shipping_address,
    updated_at = excluded.updated_at, shipped_at = excluded.shipped_at,
    cancelled_at = excluded.cancelled_at, cancel_reason = excluded.cancel_reason,
    carrier = excluded.carrier, tracking_number = excluded.tracking_number,
    version = excluded.version, search_text = excluded.search_text
"""
RAW_ITEMS_DELETE = "DELETE FROM bench_raw_item WHERE order_id = ANY(%s::uuid[])"
RAW_ITEMS_INSERT = """
INSERT INTO bench_raw_item
SELECT * FROM unnest(%s::uuid[], %s::int[], %s::text[], %s::int[], %s::numeric[], %s::numeric[])
"""
RAW_VIEW_ADVANCE = RAW_ADVANCE.replace("'raw'", "'raw_view'")


def raw_view_baseline(batch: int) -> Result:
    """order_views' work by hand: same columns, indexes and item rows; states kept in memory."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(database_url(DB_NAME)) as conn:
        conn.execute(RAW_VIEW_SETUP)
        _reset_checkpoint(conn, "raw_view")
        with metered(Result(0, 0.0)) as result:
            result.read = _raw_view_loop(conn, batch, Jsonb)
        return result


def _raw_view_loop(conn: Any, batch: int, jsonb: Any) -> int:
    ck_tx, ck_pos, read = 0, 0, 0
    states: dict[str, dict[str, Any]] = {}
    while True:
        with conn.transaction():
            rows = conn.execute(RAW_READ, (ck_tx, ck_pos, batch)).fetchall()
            if not rows:
                return read
            touched: dict[str, dict[str, Any]] = {}
            relined: set[str] = set()
            existed: set[str] = set()
            for _position, event_type, data, recorded_at, _tx in rows:
                order_id = data["order_id"]
                if order_id not in touched and order_id in states:
                    existed.add(order_id)
                o = touched[order_id] = states.setdefault(order_id, {})
                if event_type == "OrderCreated":
                    o.update(
                        customer_id=data["customer_id"],
                        currency=data["currency"],
                        address=data["shipping_address"],
                        created_at=recorded_at,
                        status="pending",
                        shipped_at=None,
                        cancelled_at=None,
                        reason=None,
                        carrier="",
                        tracking="",
                        version=0,
                        lines={
                            i["product_id"]: [i["quantity"], Decimal(i["unit_price"])]
                            for i in data["items"]
                        },
                    )
                    relined.add(order_id)
                elif event_type == "OrderItemAdded":
                    line = o["lines"].get(data["product_id"])
                    quantity = data["quantity"] + (line[0] if line else 0)
                    o["lines"][data["product_id"]] = [quantity, Decimal(data["unit_price"])]
                    relined.add(order_id)
                elif event_type == "OrderShipped":
                    o.update(
                        status="shipped",
                        shipped_at=recorded_at,
                        carrier=data["carrier"],
                        tracking=data["tracking_number"],
                    )
                elif event_type == "OrderCancelled":
                    o.update(status="cancelled", cancelled_at=recorded_at, reason=data["reason"])
                o["updated_at"] = recorded_at
                o["version"] += 1
            view = []
            for order_id, o in touched.items():
                parts = [o["customer_id"], *o["lines"], o["address"]["city"]]
                if o["reason"]:
                    parts.append(o["reason"])
                view.append(
                    (
                        order_id,
                        o["customer_id"],
                        o["status"],
                        o["currency"],
                        sum((p * q for q, p in o["lines"].values()), Decimal("0.00")),
                        sum(q for q, _ in o["lines"].values()),
                        jsonb(o["address"]),
                        o["created_at"],
                        o["updated_at"],
                        o["shipped_at"],
                        o["cancelled_at"],
                        o["reason"],
                        o["carrier"],
                        o["tracking"],
                        o["version"],
                        " ".join(parts),
                    )
                )
            conn.execute(RAW_VIEW_UPSERT, [list(c) for c in zip(*view, strict=True)])
            gone = [order_id for order_id in relined if order_id in existed]
            if gone:
                conn.execute(RAW_ITEMS_DELETE, [gone])
            items = [
                (order_id, n, pid, q, p, p * q)
                for order_id in relined
                for n, (pid, (q, p)) in enumerate(states[order_id]["lines"].items(), start=1)
            ]
            conn.execute(RAW_ITEMS_INSERT, [list(c) for c in zip(*items, strict=True)])
            ck_tx, ck_pos = _raw_advance(conn, RAW_VIEW_ADVANCE, rows, ck_tx, ck_pos)
            read += len(rows)


def raw_baseline(batch: int) -> Result:
    """The speed limit: read a batch, fold per order in Python, one upsert + checkpoint, commit."""
    import psycopg

    with psycopg.connect(database_url(DB_NAME)) as conn:
        conn.execute(RAW_SETUP)
        _reset_checkpoint(conn, "raw")
        with metered(Result(0, 0.0)) as result:
            result.read = _raw_loop(conn, batch)
        return result


def _raw_loop(conn: Any, batch: int) -> int:
    ck_tx, ck_pos, read = 0, 0, 0
    while True:
        with conn.transaction():
            rows = conn.execute(RAW_READ, (ck_tx, ck_pos, batch)).fetchall()
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
            ck_tx, ck_pos = _raw_advance(conn, RAW_ADVANCE, rows, ck_tx, ck_pos)
            read += len(rows)


def _reset_checkpoint(conn: Any, name: str) -> None:
    with conn.cursor() as cur:
        for statement in filter(str.strip, RAW_CHECKPOINT_SETUP.split(";")):
            cur.execute(statement, [name] * statement.count("%s"))
    conn.commit()


def _raw_advance(conn: Any, sql: str, rows: list[Any], ck_tx: int, ck_pos: int) -> tuple[int, int]:
    """Compare-and-swap the baseline's checkpoint to the batch's last event."""
    last_pos, last_tx = rows[-1][0], rows[-1][4]
    if conn.execute(sql, (last_tx, last_pos, ck_tx, ck_pos)).rowcount != 1:
        raise RuntimeError("raw checkpoint moved concurrently")
    return last_tx, last_pos


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
        if rest >= 0:
            parts.append(f"runner rest {rest:5.2f}s (db {self.db['other']:.2f}s)")
        else:  # batches read ahead on a second connection while the one before is applied
            parts.append(f"(reads overlapped applies by {-rest:.2f}s)")
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

    from projections.engine import followers, strategies

    saved_read, saved_advance = strategies.read_all, strategies.advance
    strategies.read_all = breakdown.wrap("read", saved_read)  # type: ignore[assignment]
    timed_advance = breakdown.wrap("advance", saved_advance)

    def advance(*args: Any, **kwargs: Any) -> None:
        # Only this thread's (applied in place); the writer's are the write-behind's own.
        main = threading.current_thread() is threading.main_thread()
        (timed_advance if main else saved_advance)(*args, **kwargs)

    strategies.advance = advance
    patched = []
    for projection in followers.registered():
        patched.append(projection)
        # Written behind: only the fold is on this thread ("apply" is then the fold alone).
        projection.handle = breakdown.wrap("apply", projection.handle)  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(breakdown.execute_wrapper):
            yield
    finally:
        strategies.read_all, strategies.advance = saved_read, saved_advance
        for projection in patched:
            del projection.handle


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
    """Compare order_views with both raw baselines' tables (same log, all done)."""
    from django.db import connection

    summary = """
        row(count(*), sum({total}), sum(item_count), count(*) FILTER (WHERE status = 'shipped'),
            md5(string_agg({search}, ',' ORDER BY order_id)))::text
    """
    plain = summary.format(total="total_amount", search="''")
    minimal = summary.format(total="total", search="''")
    full = summary.format(total="total_amount", search="search_text")
    active = (
        "JOIN projections_projectionstate s ON s.name = 'order_views' AND s.active "
        "AND v.generation = s.generation"
    )
    sql = f"""
        WITH ov AS (SELECT v.* FROM projections_orderview v {active}),
             items AS (SELECT v.* FROM projections_orderviewitem v {active})
        SELECT (SELECT {plain} FROM ov), (SELECT {minimal} FROM bench_raw_order),
               (SELECT {full} FROM ov), (SELECT {full} FROM bench_raw_view),
               (SELECT count(*) FROM items), (SELECT count(*) FROM bench_raw_item)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        ours, raw, ours_full, raw_view, our_items, raw_items = cursor.fetchone()
    same = ours == raw and ours_full == raw_view and our_items == raw_items
    return (
        f"order_views vs the raw tables (orders, total, items, shipped, search text md5; "
        f"item rows): {ours_full}, {our_items} / {raw_view}, {raw_items}: "
        f"{'match' if same else 'DIFFER'}"
    )


SYSTEMS = ("raw_minimal", "raw_view", *PROJECTIONS)
LABELS = {"raw_minimal": "raw, minimal table", "raw_view": "raw, order view"}
RESULT_PREFIX = "RESULT "


def run_projection(name: str, count: int, *, profile: bool, budget: float) -> Result:
    """Rebuild ``name`` from zero (what ``rebuild_projection`` runs), timed to the switch."""
    from projections.engine import generations, runner
    from projections.engine.rebuild import rebuild

    breakdown = Breakdown()
    progress = Budget(budget)
    with (
        instrumented(breakdown),
        metered(Result(0, 0.0)) as result,
        suppress(BudgetSpent),
    ):
        rebuild(name, progress=progress)
    result.read = progress.read
    print(f"      {breakdown.report(result.seconds)}")
    if result.read != count:
        print(
            f"  !! {name} stopped after its {budget:.0f}s budget at {result.read} of {count} "
            f"events: its rate is over that part of the log only"
        )
    if profile:
        target = generations.start_rebuild(name)
        profiler = cProfile.Profile()
        profiler.enable()
        with suppress(BudgetSpent):
            runner.run(name, generation=target.generation, progress=Budget(budget))
        profiler.disable()
        print(f"\n--- cProfile: {name} (new generation {target.generation}) ---")
        print(profile_top(profiler))
    return result


def run_one(system: str, count: int, *, profile: bool, budget: float) -> int:
    """``--one SYSTEM``: measure one system in this (fresh) process on the filled log; the
    result goes to stdout as one JSON line after RESULT_PREFIX."""
    setup_django(DB_NAME, recreate=False)
    from django.conf import settings

    batch = settings.PROJECTION_CATCHUP_BATCH_SIZE  # the baselines read batches this large
    if system == "raw_minimal":
        result = raw_baseline(batch)
    elif system == "raw_view":
        result = raw_view_baseline(batch)
    else:
        result = run_projection(system, count, profile=profile, budget=budget)
    print(RESULT_PREFIX + json.dumps(result.__dict__), flush=True)
    return 0


def measure_in_fresh_process(system: str, args: argparse.Namespace) -> Result:
    """Run ``system`` in a process of its own: the last system measured in a long-lived
    process ran 10-26 % slower than the first (issue 12), which biased the ratios."""
    checkpoint(DB_NAME)  # nobody pays for the previous run's dirty pages
    command = [sys.executable, "-m", "bench.catchup", "--one", system]
    command += ["--events", str(args.events), "--budget", str(args.budget)]
    if args.profile:
        command.append("--profile")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    result = None
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = Result(**json.loads(line[len(RESULT_PREFIX) :]))
        elif line.strip():
            print(line)
    if done.returncode != 0 or result is None:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"{system} failed (exit status {done.returncode})")
    return result


def round_order(number: int, systems: tuple[str, ...]) -> tuple[str, ...]:
    """Round 0 forwards, round 1 backwards, ...: each system is early as often as late."""
    return systems if number % 2 == 0 else tuple(reversed(systems))


def spread(values: list[float], fmt: str) -> str:
    """Median [min-max] of the rounds' values."""
    return (
        f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"
        if values
        else "-"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.catchup", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="log size (default 200000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all systems (default 3)")
    parser.add_argument("--profile", action="store_true", help="also run each under cProfile")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-SQL baselines")
    parser.add_argument(
        "--sealed",
        action="store_true",
        help="seal the personal fields in the log as appends do (issue 20: what opening costs)",
    )
    parser.add_argument(
        "--only", choices=PROJECTIONS, action="append", help="measure only these projections"
    )
    parser.add_argument("--one", choices=SYSTEMS, help=argparse.SUPPRESS)  # a round's child
    parser.add_argument(
        "--budget",
        type=float,
        default=45.0,
        help="stop a projection's catch-up after this many seconds (default 45) and report the "
        "rate over the part it applied",
    )
    args = parser.parse_args(argv)
    if args.one:
        return run_one(args.one, args.events, profile=args.profile, budget=args.budget)

    setup_django(DB_NAME)
    from django.conf import settings

    print(f"bench.catchup: {args.events} events, database {DB_NAME}, {machine_note()}")
    print(
        f"  DEBUG={settings.DEBUG}, PROJECTION_BATCH_SIZE={settings.PROJECTION_BATCH_SIZE}, "
        f"PROJECTION_CATCHUP_BATCH_SIZE={settings.PROJECTION_CATCHUP_BATCH_SIZE}, "
        f"python {sys.version.split()[0]}"
    )
    fill_seconds = fill_log(args.events, args.seed, sealed=args.sealed)
    print(f"  personal fields {'sealed' if args.sealed else 'clear'} in the log")
    print(f"  filled the log in {fill_seconds:.1f}s ({rate(args.events, fill_seconds):.0f} ev/s)")
    wait_until_visible()
    projections = tuple(args.only or PROJECTIONS)
    systems = projections if args.no_raw else ("raw_minimal", "raw_view", *projections)
    if args.sealed:  # the raw view reads the city in clear: it has no sealed counterpart
        systems = tuple(s for s in systems if s != "raw_view")
    print(
        f"  {args.rounds} rounds, each system in a fresh process, the order reversed every "
        "other round"
    )

    rounds: list[dict[str, Result]] = []
    for number in range(args.rounds):
        order = round_order(number, systems)
        print(f"\nround {number + 1}: {', '.join(order)}")
        results: dict[str, Result] = {}
        for system in order:
            result = results[system] = measure_in_fresh_process(system, args)
            print(
                f"  {LABELS.get(system, system):<20} {result.read:>8} events in "
                f"{result.seconds:7.2f}s = {result.rate:>8.0f} ev/s\n      {result.cpu_note()}"
            )
        rounds.append(results)
        print("  " + round_ratios(results))

    complete = all(r[name].read == args.events for r in rounds for name in projections)
    if not args.no_raw and not args.sealed and "order_views" in projections and complete:
        print(f"\n  check (last round): {verify_against_raw()}")
    return report(rounds, projections, args.events, raw=not args.no_raw)


def round_ratios(results: dict[str, Result]) -> str:
    raw = results.get("raw_minimal")
    if raw is None:
        return ""
    parts = [
        f"{name} {r.rate / raw.rate:.2f}x" for name, r in results.items() if name in PROJECTIONS
    ]
    if "raw_view" in results and "order_views" in results:
        parts.append(
            f"order_views/raw view {results['order_views'].rate / results['raw_view'].rate:.2f}x"
        )
    return "ratios to the raw minimal loop: " + ", ".join(parts)


def report(
    rounds: list[dict[str, Result]], projections: tuple[str, ...], events: int, *, raw: bool
) -> int:
    print(
        f"\nsummary over {len(rounds)} rounds, median [min-max] (targets: >= {TARGET_RATE} ev/s "
        f"and >= {TARGET_RATIO}x the minimal raw loop; order_views also against the raw order "
        "view doing the same work)"
    )
    print(f"  {'':<20} {'ev/s':>22} {'x minimal':>20} {'x view':>20}  target (median)")
    failed = False
    for name in projections:
        rates = [r[name].rate for r in rounds]
        minimal = [r[name].rate / r["raw_minimal"].rate for r in rounds] if raw else []
        view = (
            [r[name].rate / r["raw_view"].rate for r in rounds]
            if raw and name == "order_views" and all("raw_view" in r for r in rounds)
            else []
        )
        ok = statistics.median(rates) >= TARGET_RATE and (
            not raw or statistics.median(minimal) >= TARGET_RATIO
        )
        failed |= not ok
        print(
            f"  {name:<20} {spread(rates, '8.0f'):>22} {spread(minimal, '5.2f'):>20} "
            f"{spread(view, '5.2f'):>20}  {'ok' if ok else 'BELOW'}"
        )
        cpu = [(1e6 * r[name].python_cpu / r[name].read) for r in rounds if r[name].read]
        print(f"  {'':<20} python CPU us/event {spread(cpu, '5.1f')}")
    if raw:
        for system in ("raw_minimal", "raw_view"):
            if not all(system in r for r in rounds):
                continue  # no raw view on a sealed log
            rates = [r[system].rate for r in rounds]
            print(f"  {LABELS[system]:<20} {spread(rates, '8.0f'):>22}")
    # Through all three: the time one log event takes to reach every read model when the three
    # catch up one after the other (as the catch_up task runs them) = 1 / sum(1 / rate).
    if set(PROJECTIONS) <= set(projections):
        overall = [events / sum(events / r[n].rate for n in PROJECTIONS) for r in rounds]
        print(f"  {'all three in turn':<20} {spread(overall, '8.0f'):>22}  (no target)")
    print(f"  (load after run: {machine_note()})")
    print("  verdict:", "below target" if failed else "targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
