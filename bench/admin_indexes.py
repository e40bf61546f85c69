"""What the back office's indexes on the log cost each append (eventstore migration 0004),
and with ``--shard`` what the shards' index costs (migration 0006).

    python -m bench.admin_indexes [--preload 1000000] [--seconds 4] [--rounds 5]
                                  [--writers 1,4] [--each] [--shard]

Tables of the raw append baseline's shape (bench.common.raw_event_table_ddl): one without the
back office's indexes ("plain"), one with all three ("indexed": by event type, by stream
type, by correlation id) and, with ``--each``, one per index alone; each
preloaded by SQL with the same ``--preload`` events; with ``--shard``, one more ("sharded"):
all three and the shards' index, on (bucket, global_position) as the raw tables have no
tx_id. Then each is written by the raw baseline's
writers (one multi-row INSERT of an order's 3 events per transaction, psycopg), the tables
taking turns in every round (the order reversed every other round). Prints events/s and
server CPU per transaction of each, and each one's ratio to plain per round. Database
``bench_admin_indexes``.
"""

from __future__ import annotations

import argparse
import statistics

from bench.append import raw_session
from bench.common import (
    ADMIN_INDEXES,
    ServerCpu,
    checkpoint,
    conninfo,
    format_table,
    machine_note,
    measure,
    raw_event_table_ddl,
    recreate_database,
)

DB_NAME = "bench_admin_indexes"

PRELOAD_SQL = """
INSERT INTO {t} (event_id, stream_id, stream_type, version, event_type, schema_version, data,
                 metadata, recorded_at)
SELECT md5('e' || n)::uuid, 'Order-' || md5('o' || (n + 2) / 3)::uuid, 'Order', 1 + n %% 3,
       (ARRAY['OrderCreated', 'OrderItemAdded', 'OrderShipped'])[1 + n %% 3], 1,
       jsonb_build_object('order_id', md5('o' || (n + 2) / 3)::uuid, 'quantity', 1),
       jsonb_build_object('correlation_id', md5('c' || n)::uuid, 'actor', 'bench'),
       now() - interval '1 day' + n * interval '1 millisecond'
FROM generate_series(1, %(preload)s) AS n
"""


# The shards' index (eventstore migration 0006) on a raw table: the bucket as its leading key.
SHARD_INDEX = (
    "CREATE INDEX {t}_shard ON {t} ((hashtextextended(stream_id, 0) & 15), global_position);"
)


def tables(each: bool, shard: bool = False) -> dict[str, str]:
    """label -> table: plain, indexed (all of them), with ``each`` one per index, with
    ``shard`` sharded (all of them and the shards' index)."""
    labels = ["plain", "indexed", *(ADMIN_INDEXES if each else ()), *(["sharded"] if shard else [])]
    return {label: f"bench_{label}_event" for label in labels}


def prepare(preload: int, tables: dict[str, str]) -> None:
    import psycopg

    recreate_database(DB_NAME)
    with psycopg.connect(**conninfo(DB_NAME), autocommit=True) as conn:
        for label, table in tables.items():
            indexed = label in ("indexed", "sharded")
            conn.execute(raw_event_table_ddl(table, admin_indexes=indexed))
            if label in ADMIN_INDEXES:
                conn.execute(ADMIN_INDEXES[label].format(t=table))
            if label == "sharded":
                conn.execute(SHARD_INDEX.format(t=table))
            conn.execute(PRELOAD_SQL.format(t=table), {"preload": preload})
        conn.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preload", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writers", default="1,4")
    parser.add_argument("--each", action="store_true", help="also each index alone")
    parser.add_argument("--shard", action="store_true", help="also with the shards' index")
    args = parser.parse_args()
    writer_counts = [int(w) for w in args.writers.split(",")]
    by_label = tables(args.each, args.shard)

    print(f"bench.admin_indexes: database {DB_NAME}, {machine_note()}")
    prepare(args.preload, by_label)
    print(f"  preloaded {args.preload:,} events into each table")
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    ratios: dict[tuple[str, int], list[float]] = {}
    labels = list(by_label)
    for round_number in range(args.rounds):
        order = labels if round_number % 2 == 0 else labels[::-1]
        for writers in writer_counts:
            rates = {}
            for label in order:
                checkpoint(DB_NAME)
                m = measure(
                    label,
                    writers,
                    raw_session(by_label[label], DB_NAME),
                    seconds=args.seconds,
                    server_cpu=ServerCpu(DB_NAME),
                )
                rates[label] = m.events_per_second
                cpu = m.cpu_us_per_unit(m.server_cpu)
                results.setdefault((label, writers), []).append((m.events_per_second, cpu))
                print(
                    f"  round {round_number + 1} {label:<8} {writers} writer(s): "
                    f"{m.events_per_second:>8,.0f} events/s, server CPU {cpu:,.0f} µs/tx",
                    flush=True,
                )
            for label in labels[1:]:
                ratios.setdefault((label, writers), []).append(rates[label] / rates["plain"])
            if "sharded" in rates:
                ratios.setdefault(("sharded/indexed", writers), []).append(
                    rates["sharded"] / rates["indexed"]
                )

    rows = []
    for (label, writers), values in results.items():
        rows.append(
            (
                label,
                writers,
                f"{statistics.median(v[0] for v in values):,.0f}",
                f"{statistics.median(v[1] for v in values):,.0f}",
            )
        )
    print()
    print(format_table(rows, ["table", "writers", "events/s", "server CPU µs/tx"]))
    print("\nevents/s against plain, and sharded against indexed (median of the rounds' own")
    print("ratios; each round)")
    for (label, writers), values in ratios.items():
        each = " ".join(f"{v:.2f}" for v in values)
        print(f"  {label:<12} {writers} writer(s): {statistics.median(values):.2f}   ({each})")
    print(f"\n({machine_note()})")


if __name__ == "__main__":
    main()
