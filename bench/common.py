"""Shared benchmark plumbing: throwaway databases, threaded timing, order payloads, result tables.

Every benchmark uses its own database on the PostgreSQL server named by ``BENCH_PG_SERVER``
(default ``postgres://root@127.0.0.1:5432``), dropped and recreated at start, so it never touches
the development or test databases.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://root@127.0.0.1:5432").rstrip("/")


# --- databases ----------------------------------------------------------------------------------
def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def conninfo(name: str) -> dict[str, Any]:
    """psycopg / eventsourcing connection keywords for database ``name`` on the bench server."""
    url = urlsplit(database_url(name))
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "password": url.password or "",
        "dbname": name,
    }


def recreate_database(name: str) -> None:
    """Drop ``name`` (disconnecting anyone in it) and create it empty."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(name: str, *, recreate: bool = True) -> None:
    """Point Django at database ``name`` (fresh unless ``recreate`` is off) and migrate it.

    Must run before anything imports Django models. DEBUG is off unless DJANGO_DEBUG is set, as
    in production: with DEBUG on, Django logs every query, which would be measured too.
    """
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-used-for-anything-real")
    os.environ.pop("CELERY_BROKER_URL", None)  # eager: nothing is sent anywhere
    if recreate:
        recreate_database(name)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def checkpoint(name: str) -> None:
    """Flush dirty pages now, so no run pays for an earlier run's checkpoint (needs superuser)."""
    import psycopg

    with psycopg.connect(database_url(name), autocommit=True) as conn, suppress(psycopg.Error):
        conn.execute("CHECKPOINT")


def server_settings(name: str, settings: Sequence[str]) -> dict[str, str]:
    import psycopg

    with psycopg.connect(database_url(name), autocommit=True) as conn:
        return {s: str(conn.execute(f"SHOW {s}").fetchone()[0]) for s in settings}


# --- timing -------------------------------------------------------------------------------------
def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def machine_note() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


Step = Callable[[], int]
"""One unit of work (say, one transaction); returns how many events it wrote."""

Session = Callable[[int], AbstractContextManager[Step]]
"""Given a writer's number, opens that writer's connection and yields its step function."""


class ServerCpu:
    """CPU seconds used by the server processes serving one database (same host only).

    ``start`` notes the backends connected to the database then; ``stop`` sums what they used
    since. Reads /proc, so it needs PostgreSQL on this machine; otherwise figures are NaN.
    Linux samples this accounting at clock ticks, so use it over seconds, not milliseconds.
    """

    _tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, database: str) -> None:
        self.database = database
        self._start: dict[int, float] = {}

    @classmethod
    def process_seconds(cls, pid: int) -> float | None:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / cls._tick  # utime + stime

    def _backends(self) -> list[int]:
        import psycopg

        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            ).fetchall()
        return [row[0] for row in rows]

    def start(self) -> None:
        self._start = {}
        for pid in self._backends():
            used = self.process_seconds(pid)
            if used is not None:
                self._start[pid] = used

    def stop(self) -> float:
        if not self._start:
            return float("nan")
        total = 0.0
        for pid, before in self._start.items():
            after = self.process_seconds(pid)
            total += (after if after is not None else before) - before
        return total


@dataclass
class Measurement:
    label: str
    writers: int
    units: int
    events: int
    seconds: float
    latencies: list[float] = field(default_factory=list, repr=False)
    client_cpu: float = float("nan")  # this process's CPU seconds during the run
    server_cpu: float = float("nan")  # the database's server processes' CPU seconds

    @property
    def events_per_second(self) -> float:
        return rate(self.events, self.seconds)

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    def cpu_us_per_unit(self, seconds: float) -> float:
        return 1e6 * seconds / self.units if self.units else float("nan")


def measure(
    label: str,
    writers: int,
    session: Session,
    *,
    seconds: float | None = None,
    units: int | None = None,
    warmup: int = 20,
    server_cpu: ServerCpu | None = None,
) -> Measurement:
    """Run ``writers`` threads, each in its own ``session``, all starting together.

    Each thread first runs ``warmup`` untimed steps (connecting, preparing statements), then
    steps until ``seconds`` have passed since the common start, or until it has done its share
    of ``units``. Throughput is events over the time from the start to the last thread's end.
    Threads keep their connections until all are done, so ``server_cpu`` can read every backend.
    """
    if (seconds is None) == (units is None):
        raise ValueError("give exactly one of seconds or units")
    marks: dict[str, float] = {}

    def on_start() -> None:
        if server_cpu is not None:
            server_cpu.start()
        marks["cpu"] = time.process_time()
        marks["start"] = time.perf_counter()

    def on_end() -> None:
        marks["client_cpu"] = time.process_time() - marks["cpu"]
        if server_cpu is not None:
            marks["server_cpu"] = server_cpu.stop()

    start = threading.Barrier(writers, action=on_start)
    end = threading.Barrier(writers, action=on_end)
    done_units = [0] * writers
    done_events = [0] * writers
    ended = [0.0] * writers
    latencies: list[list[float]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            with session(number) as step:
                for _ in range(warmup):
                    step()
                start.wait()
                deadline = marks["start"] + seconds if seconds is not None else None
                share = None if units is None else units // writers + (number < units % writers)
                clock = time.perf_counter
                own = latencies[number]
                count = written = 0
                while True:
                    if share is not None and count >= share:
                        break
                    before = clock()
                    if deadline is not None and before >= deadline:
                        break
                    written += step()
                    own.append(clock() - before)
                    count += 1
                ended[number] = clock()
                done_units[number], done_events[number] = count, written
                end.wait()
        except BaseException as exc:
            errors.append(exc)
            start.abort()
            end.abort()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return Measurement(
        label=label,
        writers=writers,
        units=sum(done_units),
        events=sum(done_events),
        seconds=max(ended) - marks["start"],
        latencies=[x for own in latencies for x in own],
        client_cpu=marks.get("client_cpu", float("nan")),
        server_cpu=marks.get("server_cpu", float("nan")),
    )


def median_of(runs: Sequence[Measurement]) -> Measurement:
    """The run with the median throughput (ties: the earlier one)."""
    ranked = sorted(runs, key=lambda m: m.events_per_second)
    return ranked[(len(ranked) - 1) // 2]


# --- the order workload ---------------------------------------------------------------------
_CITIES = ("Lisbon", "Porto", "Berlin", "Hamburg", "Paris", "Lyon", "Madrid", "Oslo", "Turin")
_PRODUCTS = ("Espresso beans 1kg", "Pour-over kettle", "Ceramic mug", "Hand grinder", "Scale")


@dataclass(frozen=True, slots=True)
class DraftEvent:
    """An event about to be written, independent of any store's API."""

    event_id: uuid.UUID
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]


def _price(rng: random.Random) -> str:
    cents = rng.randint(199, 49_999)
    return f"{cents // 100}.{cents % 100:02d}"


def order_events(rng: random.Random, actor: str = "bench") -> tuple[uuid.UUID, list[DraftEvent]]:
    """One order's first transaction: created, an item added, submitted (each ~300 bytes JSON).

    Metadata carries what commands record: command id, correlation and causation ids, actor.
    """
    order_id = uuid.uuid4()
    command_id = str(uuid.uuid4())
    customer = f"customer-{rng.randint(1, 50_000):05d}"
    sku = f"SKU-{rng.randint(1, 2_000):05d}"
    price = _price(rng)
    quantity = rng.randint(1, 4)
    metadata = {
        "command_id": command_id,
        "correlation_id": command_id,
        "causation_id": command_id,
        "actor": actor,
    }
    address = {
        "line1": f"{rng.randint(1, 400)} Main Street",
        "city": rng.choice(_CITIES),
        "postcode": f"{rng.randint(1000, 9999)}",
        "country": "PT",
    }
    created = {
        "order_id": str(order_id),
        "customer_id": customer,
        "currency": "EUR",
        "shipping_address": address,
        "channel": "storefront-web 2026.11.3",
        "customer_email": f"{customer}@example.com",
        "placed_at": "2026-11-27T10:00:00+00:00",
        "notes": "Leave at the door if nobody answers, please.",
    }
    item_added = {
        "order_id": str(order_id),
        "product_id": sku,
        "product_name": rng.choice(_PRODUCTS),
        "quantity": quantity,
        "unit_price": price,
        "currency": "EUR",
        "line_id": str(uuid.uuid4()),
        "tax_rate": "0.23",
        "channel": "storefront-web 2026.11.3",
    }
    submitted = {
        "order_id": str(order_id),
        "customer_id": customer,
        "item_count": quantity,
        "subtotal": price,
        "shipping": "4.90",
        "tax": "0.00",
        "currency": "EUR",
        "payment_method": "card",
        "payment_reference": f"PAY-{rng.getrandbits(48):014d}",
        "channel": "storefront-web 2026.11.3",
    }
    return order_id, [
        DraftEvent(uuid.uuid4(), event_type, data, metadata)
        for event_type, data in (
            ("OrderCreated", created),
            ("OrderItemAdded", item_added),
            ("OrderSubmitted", submitted),
        )
    ]


# --- reporting ----------------------------------------------------------------------------------
def format_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first, *rest = row
        parts = [
            first.ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def measurement_rows(results: Sequence[Measurement]) -> list[list[object]]:
    return [
        [
            m.label,
            m.writers,
            m.units,
            m.events,
            round(m.seconds, 2),
            m.events_per_second,
            m.latency_ms(0.5),
            m.latency_ms(0.99),
            m.cpu_us_per_unit(m.client_cpu),
            m.cpu_us_per_unit(m.server_cpu),
        ]
        for m in results
    ]


MEASUREMENT_HEADERS = (
    "system",
    "writers",
    "tx",
    "events",
    "seconds",
    "events/s",
    "p50 ms",
    "p99 ms",
    "client CPU µs/tx",
    "server CPU µs/tx",
)


def spread(values: Sequence[float]) -> str:
    """``min to max`` of repeated figures, to show how noisy a number is."""
    if len(values) < 2:
        return ""
    return f"{min(values):,.0f} to {max(values):,.0f} (stdev {statistics.stdev(values):,.0f})"
