"""Append throughput: orders of 3 events per transaction, our store against two baselines.

    python -m bench.append [--seconds 3 | --orders N] [--rounds 3] [--writers 1,4]
                           [--breakdown] [--profile] [--no-eventsourcing]
                           [--synchronous-commit on|off]

Each order is a new stream: OrderCreated, OrderItemAdded, OrderSubmitted (~300 bytes of JSON
data each, metadata with command/correlation/causation ids and actor), written in one
transaction by every system:

* ours             ``eventstore.store.append_to_stream(..., expected_version=NO_STREAM)`` inside
                   ``transaction.atomic()``, through Django, one Django connection per thread;
* raw              psycopg, one multi-row INSERT of the 3 rows into a plain table with the same
                   columns (identity PK, unique uuid, UNIQUE(stream_id, version), jsonb) but no
                   tx_id column, extra indexes or trigger; one psycopg connection per thread;
* eventsourcing    ``PostgresApplicationRecorder.insert_events`` (eventsourcing 9.5.6) with 3
                   StoredEvents per call, in its own schema; it takes ``LOCK TABLE … EXCLUSIVE``
                   per insert, which is how it keeps its notification log gap-free.

Everything runs in database ``bench_orders`` (dropped and recreated) on BENCH_PG_SERVER. Runs
are interleaved in rounds (the order rotates each round); each figure is the median round, and
each ratio the median of the rounds' own ratios (systems of a round run back to back).
``--breakdown`` adds raw SQL into a table of our exact shape (tx_id column and index);
``--profile`` runs ours under cProfile and times database calls against Python.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    MEASUREMENT_HEADERS,
    DraftEvent,
    Measurement,
    ServerCpu,
    Session,
    Step,
    checkpoint,
    conninfo,
    format_table,
    machine_note,
    measure,
    measurement_rows,
    median_of,
    order_events,
    raw_event_table_ddl,
    server_settings,
    setup_django,
    spread,
)

DB_NAME = "bench_orders"
ES_SCHEMA = "es_bench"
TARGETS = {1: 0.85, 4: 0.85}  # ours/raw, from issue 12
CLEAR = "ours, personal fields clear"
SEALING_TARGET = 0.9  # ours (sealed) / ours with them clear, from issue 20
RESULTS_DIR = Path(__file__).resolve().parent / "results"

RAW_TABLE_DDL = raw_event_table_ddl("bench_raw_event")
# Our table's shape without its owner: same columns, defaults (tx_id), indexes and constraints;
# LIKE copies no triggers, and ours fire only on UPDATE/DELETE/TRUNCATE anyway.
SHAPE_TABLE_DDL = "CREATE TABLE bench_shape_event (LIKE eventstore_event INCLUDING ALL)"

_COLUMNS = (
    "event_id, stream_id, stream_type, version, event_type, schema_version, data, metadata, "
    "recorded_at"
)
_ROW = "(" + ", ".join(["%s"] * 9) + ")"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def raw_params(order_id: uuid.UUID, drafts: list[DraftEvent], now: datetime) -> list[Any]:
    """The raw baseline's parameters for one order: its events as rows of the table."""
    from psycopg.types.json import Jsonb

    params: list[Any] = []
    for version, d in enumerate(drafts, start=1):
        params += [
            d.event_id,
            f"Order-{order_id}",
            "Order",
            version,
            d.event_type,
            1,
            Jsonb(d.data, dumps=_compact),
            Jsonb(d.metadata, dumps=_compact),
            now,
        ]
    return params


def multi_row_insert(table: str, rows: int) -> str:
    return f"INSERT INTO {table} ({_COLUMNS}) VALUES " + ", ".join([_ROW] * rows)


# --- the systems --------------------------------------------------------------------------------
def ours_session(number: int) -> AbstractContextManager[Step]:
    """append_to_stream in transaction.atomic() on this thread's Django connection."""
    from django.db import connection, transaction

    from eventstore.store import NO_STREAM, NewEvent, append_to_stream

    rng = random.Random(number)

    def step() -> int:
        order_id, drafts = order_events(rng)
        events = [NewEvent(d.event_type, d.data, d.metadata, event_id=d.event_id) for d in drafts]
        with transaction.atomic():
            append_to_stream(f"Order-{order_id}", "Order", events, expected_version=NO_STREAM)
        return len(events)

    @contextmanager
    def session() -> Iterator[Step]:
        try:
            yield step
        finally:
            connection.close()

    return session()


# "ours, personal fields clear": the store as it was before sealing (issue 20), to measure what
# sealing the address costs an append. The registration is global: the writers of this system
# (threads, run together) take it away while any of them runs and put it back after the last.
_clear_lock = threading.Lock()
_clear_writers = [0]
_saved_fields: dict[str, Any] = {}


def ours_clear_session(number: int) -> AbstractContextManager[Step]:
    from eventstore import personal

    @contextmanager
    def session() -> Iterator[Step]:
        with _clear_lock:
            if _clear_writers[0] == 0:
                for event_type in ("OrderCreated", "ShippingAddressChanged"):
                    fields = personal.personal_fields(event_type)
                    if fields is not None:
                        _saved_fields[event_type] = fields
                        personal.unregister_personal_fields(event_type)
            _clear_writers[0] += 1
        try:
            with ours_session(number) as step:
                yield step
        finally:
            with _clear_lock:
                _clear_writers[0] -= 1
                if _clear_writers[0] == 0:
                    for event_type, fields in _saved_fields.items():
                        personal.register_personal_fields(
                            event_type,
                            [".".join(p) for p in fields.paths],
                            subject_field=fields.subject_field,
                        )

    return session()


def raw_session(table: str, database: str = DB_NAME) -> Session:
    """One multi-row INSERT per order on a psycopg connection of its own."""
    import psycopg

    insert = multi_row_insert(table, 3)

    @contextmanager
    def session(number: int) -> Iterator[Step]:
        rng = random.Random(number)
        with psycopg.connect(**conninfo(database)) as conn:

            def step() -> int:
                order_id, drafts = order_events(rng)
                now = datetime.now(UTC)
                params = raw_params(order_id, drafts, now)
                conn.execute(insert, params)
                conn.commit()
                return len(drafts)

            yield step

    return session


# A candidate for eventstore.store: the same one-statement append, but the events travel as one
# JSON document instead of five parallel arrays. psycopg quotes every '"' of a JSON string
# inside a text[] literal in Python (a regex substitution per character); one jsonb parameter is
# a single C-level json.dumps and needs no array quoting.
@dataclass
class EventSourcing:
    """One datastore (a connection pool sized for the most writers) and its recorders."""

    datastore: Any
    application: Any
    aggregate: Any

    @classmethod
    def open(cls, pool_size: int) -> EventSourcing:
        import psycopg
        from eventsourcing.postgres import (
            PostgresAggregateRecorder,
            PostgresApplicationRecorder,
            PostgresDatastore,
        )

        with psycopg.connect(**conninfo(DB_NAME), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ES_SCHEMA}")
        info = conninfo(DB_NAME)
        datastore = PostgresDatastore(
            info["dbname"],
            info["host"],
            info["port"],
            info["user"],
            info["password"],
            pool_size=pool_size,
            schema=ES_SCHEMA,
        )
        application = PostgresApplicationRecorder(datastore, events_table_name="stored_events")
        application.create_table()
        aggregate = PostgresAggregateRecorder(datastore, events_table_name="aggregate_events")
        aggregate.create_table()
        return cls(datastore, application, aggregate)

    def session(self, recorder: Any) -> Session:
        from eventsourcing.persistence import StoredEvent

        @contextmanager
        def session(number: int) -> Iterator[Step]:
            rng = random.Random(number)

            def step() -> int:
                order_id, drafts = order_events(rng)
                stored = [
                    StoredEvent(
                        originator_id=order_id,
                        originator_version=version,
                        topic=f"bench.orders:{d.event_type}",
                        state=_compact({"data": d.data, "metadata": d.metadata}).encode(),
                    )
                    for version, d in enumerate(drafts, start=1)
                ]
                recorder.insert_events(stored)
                return len(stored)

            yield step

        return session

    def close(self) -> None:
        self.datastore.close()


# --- running ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class System:
    label: str
    session: Session
    table: str  # where its rows land, to check that every counted event was stored


def prepare_tables(*, synchronous_commit: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**conninfo(DB_NAME), autocommit=True) as conn:
        # Applies to every connection opened from now on, whichever system opens it.
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = {}").format(
                sql.Identifier(DB_NAME), sql.Literal(synchronous_commit)
            )
        )
        conn.execute(RAW_TABLE_DDL)
        conn.execute(SHAPE_TABLE_DDL)


def stored_count(table: str) -> int:
    import psycopg

    with psycopg.connect(**conninfo(DB_NAME), autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def run_rounds(
    systems: list[System], writer_counts: list[int], rounds: int, amount: dict[str, Any]
) -> dict[tuple[str, int], list[Measurement]]:
    results: dict[tuple[str, int], list[Measurement]] = {}
    expected_rows: dict[str, int] = {}
    warmup = 20
    for round_number in range(rounds):
        shift = round_number % len(systems)
        order = systems[shift:] + systems[:shift]
        for writers in writer_counts:
            for system in order:
                checkpoint(DB_NAME)
                m = measure(
                    system.label,
                    writers,
                    system.session,
                    warmup=warmup,
                    server_cpu=ServerCpu(DB_NAME),
                    **amount,
                )
                results.setdefault((system.label, writers), []).append(m)
                expected_rows[system.table] = (
                    expected_rows.get(system.table, 0) + m.events + 3 * warmup * writers
                )
                print(
                    f"  round {round_number + 1} {system.label:<40} {writers} writer(s): "
                    f"{m.events_per_second:>8,.0f} events/s, CPU per transaction "
                    f"{m.cpu_us_per_unit(m.client_cpu):,.0f} µs client + "
                    f"{m.cpu_us_per_unit(m.server_cpu):,.0f} µs server",
                    flush=True,
                )
    for table, expected in expected_rows.items():
        actual = stored_count(table)
        if actual != expected:
            print(f"  !! {table} holds {actual} rows, the runs counted {expected}")
    return results


@dataclass
class Split:
    """Where one writer's transactions spend their time, in µs per transaction."""

    label: str
    build: float = 0.0  # making the payloads and parameters
    statement: float = 0.0  # inside the driver's execute: send, server work, receive
    around: float = 0.0  # Python of the store and Django around the statement
    commit: float = 0.0  # COMMIT round trip (WAL flush)
    client_cpu: float = 0.0  # this thread's CPU
    server_cpu: float = float("nan")  # the backend process's CPU

    def row(self) -> list[object]:
        total = self.build + self.statement + self.around + self.commit
        return [
            self.label,
            self.build,
            self.statement,
            self.around,
            self.commit,
            total,
            self.client_cpu,
            self.server_cpu,
        ]


SPLIT_HEADERS = (
    "µs per transaction",
    "build",
    "statement",
    "store+Django",
    "commit",
    "total",
    "client CPU",
    "server CPU",
)


def split_ours(orders: int) -> Split:
    from django.db import connection, transaction

    from eventstore.store import NO_STREAM, NewEvent, append_to_stream

    rng = random.Random(10_000)
    clock = time.perf_counter
    in_execute = [0.0]

    def timed_execute(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = clock()
        try:
            return execute(sql, params, many, context)
        finally:
            in_execute[0] += clock() - started

    split = Split("ours (append_to_stream via Django)")

    def one(record: bool) -> None:
        t0 = clock()
        order_id, drafts = order_events(rng)
        events = [NewEvent(d.event_type, d.data, d.metadata, event_id=d.event_id) for d in drafts]
        t1 = clock()
        executed = in_execute[0]
        with transaction.atomic():
            append_to_stream(f"Order-{order_id}", "Order", events, expected_version=NO_STREAM)
            t2 = clock()
        t3 = clock()
        if record:
            statement = in_execute[0] - executed
            split.build += t1 - t0
            split.statement += statement
            split.around += t2 - t1 - statement
            split.commit += t3 - t2

    with connection.execute_wrapper(timed_execute):
        for _ in range(20):
            one(record=False)
        pid = connection.connection.info.backend_pid
        cpu0, server0 = time.thread_time(), ServerCpu.process_seconds(pid)
        for _ in range(orders):
            one(record=True)
        split.client_cpu = time.thread_time() - cpu0
        server1 = ServerCpu.process_seconds(pid)
    connection.close()
    if server0 is not None and server1 is not None:
        split.server_cpu = server1 - server0
    return _per_transaction(split, orders)


def split_raw(orders: int) -> Split:
    import psycopg

    rng = random.Random(10_001)
    clock = time.perf_counter
    insert = multi_row_insert("bench_raw_event", 3)
    split = Split("raw (psycopg multi-row INSERT)")
    with psycopg.connect(**conninfo(DB_NAME)) as conn:

        def one(record: bool) -> None:
            t0 = clock()
            order_id, drafts = order_events(rng)
            now = datetime.now(UTC)
            params = raw_params(order_id, drafts, now)
            t1 = clock()
            conn.execute(insert, params)
            t2 = clock()
            conn.commit()
            t3 = clock()
            if record:
                split.build += t1 - t0
                split.statement += t2 - t1
                split.commit += t3 - t2

        for _ in range(20):
            one(record=False)
        pid = conn.info.backend_pid
        cpu0, server0 = time.thread_time(), ServerCpu.process_seconds(pid)
        for _ in range(orders):
            one(record=True)
        split.client_cpu = time.thread_time() - cpu0
        server1 = ServerCpu.process_seconds(pid)
    if server0 is not None and server1 is not None:
        split.server_cpu = server1 - server0
    return _per_transaction(split, orders)


def _per_transaction(split: Split, orders: int) -> Split:
    for name in ("build", "statement", "around", "commit", "client_cpu", "server_cpu"):
        setattr(split, name, 1e6 * getattr(split, name) / orders)
    return split


def profile_ours(orders: int) -> None:
    """Where one writer's time goes, ours against raw, then cProfile's top and EXPLAIN."""
    print(f"\n--- one writer, {orders} orders each, no profiler (µs per transaction) ---")
    splits = [split_raw(orders), split_ours(orders), split_raw(orders), split_ours(orders)]
    print(format_table([s.row() for s in splits], SPLIT_HEADERS))

    from django.db import connection

    profiler = cProfile.Profile()
    with ours_session(20_000) as step:
        step()
        profiler.enable()
        for _ in range(orders):
            step()
        profiler.disable()
    connection.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(25)
    print(f"\n--- cProfile: ours, 1 writer, {orders} orders ---")
    print(out.getvalue())


def report(
    results: dict[tuple[str, int], list[Measurement]],
    labels: list[str],
    writer_counts: list[int],
    rounds: int,
) -> dict[str, Any]:
    medians = {key: median_of(runs) for key, runs in results.items()}
    print(f"\nresults (median of {rounds} round(s) per row)")
    ordered = [
        medians[label, w] for w in writer_counts for label in labels if (label, w) in medians
    ]
    print(format_table(measurement_rows(ordered), MEASUREMENT_HEADERS))
    if rounds > 1:
        print("\nspread over rounds (events/s)")
        for (label, writers), runs in results.items():
            print(
                f"  {label:<40} {writers} writer(s): {spread([m.events_per_second for m in runs])}"
            )

    def per_round(label: str, writers: int) -> list[float]:
        """ours/``label`` in each round: the two ran back to back, under the same load."""
        ours, other = results.get(("ours", writers), []), results.get((label, writers), [])
        if not ours or not other:
            return []
        pairs = zip(ours, other, strict=True)
        return [a.events_per_second / b.events_per_second for a, b in pairs]

    ratio_rows = []
    verdicts = []
    ratios: dict[str, list[float]] = {}
    for writers in writer_counts:
        vs_raw, vs_es = per_round("raw", writers), per_round("eventsourcing", writers)
        ratios[f"ours/raw|{writers}"], ratios[f"ours/eventsourcing|{writers}"] = vs_raw, vs_es
        ours_raw = statistics.median(vs_raw) if vs_raw else None
        target = TARGETS.get(writers)
        verdict = ""
        if target is not None and ours_raw is not None:
            verdict = "ok" if ours_raw >= target else "BELOW"
            verdicts.append(verdict)
        ratio_rows.append(
            [
                str(writers),
                _ratio(ours_raw),
                " ".join(f"{r:.2f}" for r in vs_raw),
                f"≥ {target:.2f}" if target else "",
                verdict,
                _ratio(statistics.median(vs_es) if vs_es else None),
                " ".join(f"{r:.2f}" for r in vs_es),
            ]
        )
    print("\nratios (median over rounds of each round's ratio)")
    headers = ("writers", "ours/raw", "by round", "target", "", "ours/eventsourcing", "by round")
    print(format_table(ratio_rows, headers))
    sealing_rows = []
    for writers in writer_counts:
        vs_clear = per_round(CLEAR, writers)
        if not vs_clear:
            continue
        ratios[f"ours/clear|{writers}"] = vs_clear
        median = statistics.median(vs_clear)
        sealing_rows.append(
            [
                str(writers),
                _ratio(median),
                " ".join(f"{r:.2f}" for r in vs_clear),
                f"≥ {SEALING_TARGET:.2f}",
                "ok" if median >= SEALING_TARGET else "BELOW",
            ]
        )
    if sealing_rows:
        print("\nsealing the personal fields: ours (sealed) / ours with them clear")
        print(format_table(sealing_rows, ("writers", "sealed/clear", "by round", "target", "")))
    return {
        "medians": {f"{label}|{writers}": vars_of(m) for (label, writers), m in medians.items()},
        "rounds": {
            f"{label}|{writers}": [m.events_per_second for m in runs]
            for (label, writers), runs in results.items()
        },
        "ratios": ratios,
        "verdict": "BELOW" if "BELOW" in verdicts else "ok",
    }


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def vars_of(m: Measurement) -> dict[str, Any]:
    return {
        "label": m.label,
        "writers": m.writers,
        "transactions": m.units,
        "events": m.events,
        "seconds": m.seconds,
        "events_per_second": m.events_per_second,
        "p50_ms": m.latency_ms(0.5),
        "p99_ms": m.latency_ms(0.99),
        "client_cpu_us_per_tx": m.cpu_us_per_unit(m.client_cpu),
        "server_cpu_us_per_tx": m.cpu_us_per_unit(m.server_cpu),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.append",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--seconds", type=float, help="time each run for this long (default 3)")
    amount.add_argument("--orders", type=int, help="each run writes this many orders instead")
    parser.add_argument("--rounds", type=int, default=3, help="repeat all runs (default 3)")
    parser.add_argument("--writers", default="1,4", help="writer thread counts (default 1,4)")
    parser.add_argument("--breakdown", action="store_true", help="add variants that split our cost")
    parser.add_argument("--profile", action="store_true", help="profile ours with one writer")
    parser.add_argument("--profile-orders", type=int, default=3000)
    parser.add_argument("--no-eventsourcing", action="store_true")
    parser.add_argument(
        "--clear",
        action="store_true",
        help="add ours with the personal fields left clear (what sealing them costs)",
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=("on", "off"),
        default="on",
        help="set for the bench database; off takes the WAL flush out of every commit",
    )
    args = parser.parse_args(argv)
    writer_counts = [int(w) for w in args.writers.split(",")]
    run_amount: dict[str, Any] = (
        {"units": args.orders} if args.orders else {"seconds": args.seconds or 3.0}
    )

    started = time.perf_counter()
    setup_django(DB_NAME)
    from django.conf import settings

    prepare_tables(synchronous_commit=args.synchronous_commit)
    pg = server_settings(DB_NAME, ["server_version", "synchronous_commit", "shared_buffers"])
    print(
        f"bench.append: database {DB_NAME}, {machine_note()}, python {sys.version.split()[0]}, "
        f"PostgreSQL {pg['server_version'].split()[0]} "
        f"(synchronous_commit={pg['synchronous_commit']}, shared_buffers={pg['shared_buffers']}), "
        f"DEBUG={settings.DEBUG}"
    )
    print(f"  each run: {run_amount}, rounds: {args.rounds}, writers: {writer_counts}")

    systems = [
        System("ours", ours_session, "eventstore_event"),
        System("raw", raw_session("bench_raw_event"), "bench_raw_event"),
    ]
    es: EventSourcing | None = None
    if not args.no_eventsourcing:
        es = EventSourcing.open(pool_size=max(writer_counts))
        systems.append(
            System("eventsourcing", es.session(es.application), f"{ES_SCHEMA}.stored_events")
        )
        systems.append(
            System(
                "eventsourcing (no lock, no log)",
                es.session(es.aggregate),
                f"{ES_SCHEMA}.aggregate_events",
            )
        )
    if args.clear:
        systems.append(System(CLEAR, ours_clear_session, "eventstore_event"))
    if args.breakdown:
        systems.append(
            System(
                "raw SQL, our table shape", raw_session("bench_shape_event"), "bench_shape_event"
            )
        )
    try:
        results = run_rounds(systems, writer_counts, args.rounds, run_amount)
    finally:
        if es is not None:
            es.close()
    summary = report(results, [s.label for s in systems], writer_counts, args.rounds)
    if args.profile:
        profile_ours(args.profile_orders)
    print(f"\n(load after run: {machine_note()}; total {time.perf_counter() - started:.0f}s)")

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"append-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"args": vars(args), **summary}, indent=2), encoding="utf-8")
    print(f"(results written to {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
