"""Command throughput: CreateOrder through the write service against a raw psycopg INSERT.

    python -m bench.commands [--orders 600] [--rounds 2] [--writers 1,4] [--eager-projections]
                             [--breakdown]

Each unit is one new order of 2 items, i.e. one OrderCreated event in one transaction:

* commands   ``orders.services.execute_command(CreateOrder(...))`` in-process, with an
             Idempotency-Key (recorded by the append's own statement) and full metadata (actor,
             correlation id, command id); one Django connection per thread;
* raw        psycopg, one INSERT of the same event (same JSON data and metadata) per
             transaction into a plain table of the same shape (bigint identity PK, unique uuid,
             UNIQUE(stream_id, version), jsonb data/metadata, timestamptz), no trigger, no extra
             index; one psycopg connection per thread.

The projections' wake-up after commit is a broker message in production (and its cost is the
read side's, measured by bench.catchup); with Celery eager it would run the whole catch-up in
the writer's thread, so it is switched off here unless --eager-projections is given.

Runs in its own database ``bench_commands`` (dropped and recreated, then migrated), on the
server BENCH_PG_SERVER (default postgres://root@127.0.0.1:5432). Runs are interleaved in rounds
(the order of systems rotating each round); each figure is the median round, each ratio the median
of the rounds' own ratios, shown round by round. ``--breakdown`` adds the same commands without an
Idempotency-Key, and the service's own statement sent by plain psycopg.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from bench.common import (
    MEASUREMENT_HEADERS,
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
    raw_event_table_ddl,
    setup_django,
)

DB_NAME = "bench_commands"
RAW_TABLE = "bench_raw_single_event"
TARGET_AT_4_WRITERS = 0.7  # issue 12
WARMUP = 20

RAW_TABLE_DDL = raw_event_table_ddl(RAW_TABLE)
RAW_INSERT = f"""
INSERT INTO {RAW_TABLE} (event_id, stream_id, stream_type, version, event_type, schema_version,
                         data, metadata, recorded_at)
VALUES (%s, %s, 'Order', 1, 'OrderCreated', 1, %s, %s, %s)
"""

_CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Oslo", "Turin")


# --- the workload -------------------------------------------------------------------------------
def _price(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(199, 49_999)).scaleb(-2)


def create_order_command(rng: random.Random) -> Any:
    """A CreateOrder of 2 distinct products, as the API would build it from a request."""
    from orders.domain.commands import CreateOrder
    from orders.domain.values import Address, LineItem

    first = rng.randint(1, 1_000)
    return CreateOrder(
        customer_id=f"customer-{rng.randint(1, 50_000):05d}",
        items=(
            LineItem(f"SKU-{first:05d}", rng.randint(1, 4), _price(rng)),
            LineItem(f"SKU-{first + 1_000:05d}", rng.randint(1, 4), _price(rng)),
        ),
        shipping_address=Address(
            line1=f"{rng.randint(1, 400)} Main Street",
            city=rng.choice(_CITIES),
            postal_code=f"{rng.randint(1000, 9999)}",
            country="PT",
        ),
        currency="EUR",
    )


def request_hash(command: Any) -> str:
    """What the API fingerprints for an Idempotency-Key: method, path and the body."""
    from orders import idempotency

    body = {
        "customer_id": command.customer_id,
        "items": [item.to_payload() for item in command.items],
        "shipping_address": command.shipping_address.to_payload(),
        "currency": command.currency,
    }
    return idempotency.fingerprint("POST", "/api/orders", "", body)


# --- the systems --------------------------------------------------------------------------------
@contextmanager
def commands_session(number: int, *, with_key: bool = True) -> Iterator[Step]:
    """CreateOrder through execute_command, with an Idempotency-Key unless ``with_key`` is off."""
    from django.db import connection

    from orders.services import execute_command

    rng = random.Random(number if with_key else 20_000 + number)
    actor = f"bench-writer-{number}"

    def step() -> int:
        command = create_order_command(rng)
        outcome = execute_command(
            command,
            actor=actor,
            correlation_id=str(uuid.uuid4()),
            idempotency_key=str(uuid.uuid4()) if with_key else None,
            request_hash=request_hash(command) if with_key else "",
        )
        if outcome.replayed or outcome.result.version != 1:
            raise RuntimeError(f"CreateOrder was not applied: {outcome}")
        return 1

    try:
        yield step
    finally:
        connection.close()


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@contextmanager
def raw_session(number: int) -> Iterator[Step]:
    """The same event, one INSERT and one COMMIT per order, by plain psycopg."""
    import psycopg
    from psycopg.types.json import Jsonb

    from orders.domain.events import OrderCreated

    rng = random.Random(10_000 + number)
    actor = f"bench-writer-{number}"

    with psycopg.connect(**conninfo(DB_NAME)) as conn:

        def step() -> int:
            command = create_order_command(rng)
            request_hash(command)  # the same per-command work as the other side
            event = OrderCreated(
                order_id=command.order_id,
                customer_id=command.customer_id,
                currency=command.currency,
                items=command.items,
                shipping_address=command.shipping_address,
            )
            command_id = str(command.command_id)
            metadata = {
                "command_id": command_id,
                "command_type": "CreateOrder",
                "correlation_id": str(uuid.uuid4()),
                "causation_id": command_id,
                "actor": actor,
            }
            conn.execute(
                RAW_INSERT,
                [
                    uuid.uuid4(),
                    f"Order-{command.order_id}",
                    Jsonb(event.to_payload(), dumps=compact),
                    Jsonb(metadata, dumps=compact),
                    datetime.now(UTC),
                ],
            )
            conn.commit()
            return 1

        yield step


@contextmanager
def same_sql_session(number: int) -> Iterator[Step]:
    """Breakdown: the service's one statement (the append, the key recorded by the same
    statement, committing by itself) by plain psycopg.

    Shows how much of the gap is the statements themselves rather than Python/Django.
    Writes to the real tables, so its events are counted with the commands'.
    """
    import psycopg

    from eventstore.backends.postgres import append_sql, record_parameters
    from orders import idempotency
    from orders.domain.events import OrderCreated

    rng = random.Random(30_000 + number)
    actor = f"bench-sql-{number}"

    with psycopg.connect(**conninfo(DB_NAME), autocommit=True) as conn:

        def step() -> int:
            command = create_order_command(rng)
            key, command_id = str(uuid.uuid4()), str(command.command_id)
            now = datetime.now(UTC)
            event = OrderCreated(
                order_id=command.order_id,
                customer_id=command.customer_id,
                currency=command.currency,
                items=command.items,
                shipping_address=command.shipping_address,
            )
            metadata = {
                "command_id": command_id,
                "command_type": "CreateOrder",
                "correlation_id": str(uuid.uuid4()),
                "causation_id": command_id,
                "actor": actor,
            }
            stream_id = f"Order-{command.order_id}"
            record = idempotency.command_record(actor, key, request_hash(command), command.order_id)
            conn.execute(
                append_sql(1, record.table._meta.db_table),
                [
                    stream_id,
                    "Order",
                    now,
                    stream_id,
                    uuid.uuid4(),
                    1,
                    "OrderCreated",
                    1,
                    compact(event.to_payload()),
                    compact(metadata),
                    0,
                    *record_parameters(record),
                ],
                prepare=True,
            ).fetchall()
            return 1

        yield step


SYSTEMS: dict[str, Session] = {"raw psycopg INSERT": raw_session, "commands": commands_session}
BREAKDOWN: dict[str, Session] = {
    "commands, no key": partial(commands_session, with_key=False),
    "same SQL via psycopg": same_sql_session,
}


# --- running ------------------------------------------------------------------------------------
def prepare() -> None:
    import psycopg

    with psycopg.connect(**conninfo(DB_NAME), autocommit=True) as conn:
        conn.execute(RAW_TABLE_DDL)


def switch_off_projection_wakeups() -> None:
    import orders.services

    orders.services.announce_commit = lambda: None  # type: ignore[assignment]


def stored_counts() -> tuple[int, int]:
    import psycopg

    with psycopg.connect(**conninfo(DB_NAME), autocommit=True) as conn:
        ours = conn.execute("SELECT count(*) FROM eventstore_event").fetchone()
        raw = conn.execute(f"SELECT count(*) FROM {RAW_TABLE}").fetchone()
    return (int(ours[0]) if ours else 0, int(raw[0]) if raw else 0)


def run(
    systems: dict[str, Session], orders: int, rounds: int, writer_counts: list[int]
) -> dict[tuple[str, int], list[Measurement]]:
    runs: dict[tuple[str, int], list[Measurement]] = {}
    expected = dict.fromkeys(systems, 0)
    labels = list(systems)
    for round_number in range(rounds):
        shift = round_number % len(labels)
        for writers in writer_counts:
            for label in labels[shift:] + labels[:shift]:
                checkpoint(DB_NAME)
                m = measure(
                    label,
                    writers,
                    systems[label],
                    units=orders,
                    warmup=WARMUP,
                    server_cpu=ServerCpu(DB_NAME),
                )
                runs.setdefault((label, writers), []).append(m)
                expected[label] += m.events + WARMUP * writers
                print(
                    f"  round {round_number + 1}  {label:<20} {writers} writer(s): "
                    f"{m.events_per_second:>7,.0f} events/s",
                    flush=True,
                )
    ours, raw = stored_counts()
    counted_raw = expected.pop("raw psycopg INSERT")
    if (ours, raw) != (sum(expected.values()), counted_raw):
        raise SystemExit(
            f"stored rows differ from the counted events: log {ours} (counted "
            f"{sum(expected.values())}), raw {raw} (counted {counted_raw})"
        )
    return runs


def report(runs: dict[tuple[str, int], list[Measurement]], writer_counts: list[int]) -> bool:
    """Medians, and each system's ratio to raw round by round (they ran back to back): the
    median of those ratios is the figure, their spread shows how far to trust it."""
    rows: list[list[object]] = []
    met = True
    for writers in writer_counts:
        raw_runs = runs[("raw psycopg INSERT", writers)]
        for (label, w), measurements in runs.items():
            if w != writers:
                continue
            ratios = [
                m.events_per_second / r.events_per_second
                for m, r in zip(measurements, raw_runs, strict=True)
            ]
            [row] = measurement_rows([median_of(measurements)])
            by_round = " ".join(f"{ratio:.2f}" for ratio in ratios)
            rows.append([*row, f"{statistics.median(ratios):.2f}x", by_round])
            if writers == 4 and label == "commands":
                met = statistics.median(ratios) >= TARGET_AT_4_WRITERS
    print()
    print(format_table(rows, (*MEASUREMENT_HEADERS, "vs raw", "by round")))
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=600, help="CreateOrders per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--writers", default="1,4", help="comma-separated thread counts")
    parser.add_argument(
        "--eager-projections",
        action="store_true",
        help="keep the after-commit projection catch-up (runs inline with Celery eager)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also run the commands without a key, and the service's SQL by plain psycopg",
    )
    args = parser.parse_args(argv)
    writer_counts = [int(w) for w in args.writers.split(",")]

    setup_django(DB_NAME)
    if not args.eager_projections:
        switch_off_projection_wakeups()
    prepare()
    print(f"bench.commands: {args.orders} CreateOrder (2 items, 1 event) per run, {machine_note()}")
    systems = {**SYSTEMS, **(BREAKDOWN if args.breakdown else {})}
    runs = run(systems, args.orders, args.rounds, writer_counts)
    met = report(runs, writer_counts)
    if 4 in writer_counts:
        verdict = "met" if met else "NOT met"
        print(f"\ntarget commands >= {TARGET_AT_4_WRITERS:.1f}x raw at 4 writers: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
