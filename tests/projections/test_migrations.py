"""Migration 0005 (read models partitioned by generation) keeps every row and id, both ways;
0007 counts the orders of each status that every generation already has, 0008 those of each
word and status; 0009 widens the counts and sums of every partition, a rebuild's included."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from eventstore import store
from orders.domain import events as ev
from projections.engine import runner
from projections.engine.generations import active_state, start_rebuild
from projections.engine.rebuild import rebuild
from projections.models import CustomerSummary, DailySales
from tests.projections import builders as b
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = ("projections", "0004_drop_unused_item_index")
PARTITIONED = ("projections", "0005_partition_read_models_by_generation")
TABLES = ("projections_orderview", "projections_orderviewitem", "projections_dailysales")


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target])


def migrate_to_latest() -> None:
    # The app's latest migration (later ones than 0005 exist: the back office's group, ...).
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("projections")[0])


@pytest.fixture
def back_at_the_latest() -> Iterator[None]:
    yield
    migrate_to_latest()


def kind(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [table])
        (relkind,) = cursor.fetchone()
    return str(relkind)


def rows(table: str) -> list[tuple[Any, ...]]:
    """The rows' columns but ``shard`` (0011 adds it: the rows are compared across it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY id")
        kept = [i for i, column in enumerate(cursor.description) if column.name != "shard"]
        return [tuple(row[i] for i in kept) for row in cursor.fetchall()]


def test_partitioning_keeps_every_row_and_id_and_can_be_undone(back_at_the_latest: None) -> None:
    order_id, _ = b.append_new_order(items=[("sku-1", 2, "3.50"), ("sku-2", 1, "9.99")])
    b.append_new_order(customer_id="cust-2")
    b.catch_up_until_applied()
    partitioned = {table: rows(table) for table in TABLES}
    assert all(partitioned.values())

    migrate(BEFORE)

    assert {kind(table) for table in TABLES} == {"r"}
    assert {table: rows(table) for table in TABLES} == partitioned

    migrate(PARTITIONED)

    assert {kind(table) for table in TABLES} == {"p"}
    assert {table: rows(table) for table in TABLES} == partitioned
    migrate_to_latest()  # what the projectors write today
    b.append_order_events(order_id, [b.item_added(order_id, "sku-3", 1, "1.00")])
    b.catch_up_until_applied()  # new rows get new ids from the kept sequence
    incremental = b.read_tables()
    rebuild("order_views")
    assert b.read_tables() == incremental


def test_status_counts_are_filled_from_the_views_of_every_generation(
    back_at_the_latest: None,
) -> None:
    order_id, _ = b.append_new_order()
    b.append_new_order(customer_id="cust-2")
    b.append_order_events(order_id, [ev.OrderShipped(order_id, "ups", "1Z")])
    b.catch_up_until_applied()
    counted = rows("projections_orderstatuscount")

    migrate(("projections", "0006_projection_operators_group"))
    migrate_to_latest()

    assert kind("projections_orderstatuscount") == "p"
    assert rows_without_ids("projections_orderstatuscount") == [
        (1, "pending", 1),
        (1, "shipped", 1),
    ]
    assert len(counted) == 3  # the projector's rows have a zero for "cancelled" too
    b.append_new_order(customer_id="cust-3")
    b.catch_up_until_applied()
    assert rows_without_ids("projections_orderstatuscount") == [
        (1, "cancelled", 0),
        (1, "pending", 2),
        (1, "shipped", 1),
    ]


def rows_without_ids(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT generation, status, order_count FROM {table} ORDER BY 1, 2")
        return cursor.fetchall()


def test_a_rebuild_in_progress_gets_detached_counts_and_finishes_with_them(
    back_at_the_latest: None,
) -> None:
    order_id, _ = b.append_new_order()
    b.append_new_order(customer_id="cust-2")
    b.append_order_events(order_id, [ev.OrderCancelled(order_id, "changed mind")])
    b.catch_up_until_applied()
    rebuilding = start_rebuild("order_views")

    def filled() -> bool:  # the rebuild has read the log, its tables still detached
        runner.run("order_views", generation=rebuilding.generation)
        rebuilding.refresh_from_db()
        return store.backlog(rebuilding.checkpoint).events == 0

    wait_until(filled, timeout=60, interval=0.02, what="the rebuild to read the log")
    child = f"projections_orderstatuscount_g{rebuilding.generation}"

    migrate(("projections", "0006_projection_operators_group"))
    migrate_to_latest()

    assert attached(child) is False
    assert rows_without_ids(child) == [
        (rebuilding.generation, "cancelled", 1),
        (rebuilding.generation, "pending", 1),
    ]
    rebuild("order_views")
    assert active_state("order_views").generation == rebuilding.generation
    assert attached(child) is True
    assert rows_without_ids(child) == [
        (rebuilding.generation, "cancelled", 1),
        (rebuilding.generation, "pending", 1),
    ]


def attached(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = %s::regclass)", [table]
        )
        (found,) = cursor.fetchone()
    return bool(found)


def term_rows(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT generation, term, status, order_count FROM {table} "
            "WHERE order_count <> 0 ORDER BY 1, 2, 3"
        )
        return cursor.fetchall()


def test_term_counts_are_filled_from_the_views_of_every_generation_attached_or_not(
    back_at_the_latest: None,
) -> None:
    order_id, _ = b.append_new_order(customer_id="alice")
    b.append_new_order(customer_id="bob")
    b.append_order_events(order_id, [ev.OrderCancelled(order_id, "changed mind")])
    b.catch_up_until_applied()
    live = term_rows("projections_ordertermcount")  # as the projector wrote them
    rebuilding = start_rebuild("order_views")

    def filled() -> bool:  # the rebuild has read the log, its tables still detached
        runner.run("order_views", generation=rebuilding.generation)
        rebuilding.refresh_from_db()
        return store.backlog(rebuilding.checkpoint).events == 0

    wait_until(filled, timeout=60, interval=0.02, what="the rebuild to read the log")
    child = f"projections_ordertermcount_g{rebuilding.generation}"
    assert term_rows(child) == []  # a rebuild counts its words when it attaches its tables

    migrate(("projections", "0007_order_status_counts"))
    migrate_to_latest()

    assert kind("projections_ordertermcount") == "p"
    assert ("alice", "cancelled") in {(term, status) for _, term, status, _ in live}
    assert term_rows("projections_ordertermcount") == live
    assert attached(child) is False
    filled = term_rows(child)
    assert [row[1:] for row in filled] == [row[1:] for row in live]
    rebuild("order_views")
    assert attached(child) is True
    assert term_rows(child) == filled


SUM_TABLES = ("projections_customersummary", "projections_dailysales")


def column_types(table: str) -> dict[str, str]:
    """The counts' and sums' types of ``table`` (its other columns left out)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "AND attname NOT IN ('id', 'generation', 'customer_id', 'date', 'last_order_at', "
            "'shard')",
            [table],
        )
        return dict(cursor.fetchall())


def test_counts_and_sums_are_widened_in_every_partition_attached_or_not(
    back_at_the_latest: None,
) -> None:
    b.append_new_order(customer_id="alice", items=[("sku-1", 3, "2.50")])
    b.catch_up_until_applied()
    before = b.read_tables()
    rebuilding = start_rebuild("daily_sales")

    def filled() -> bool:  # the rebuild has read the log, its tables still detached
        runner.run("daily_sales", generation=rebuilding.generation)
        rebuilding.refresh_from_db()
        return store.backlog(rebuilding.checkpoint).events == 0

    wait_until(filled, timeout=60, interval=0.02, what="the rebuild to read the log")
    detached = f"projections_dailysales_g{rebuilding.generation}"
    partitions = [*SUM_TABLES, *(f"{t}_g1" for t in SUM_TABLES), detached]

    migrate(("projections", "0008_order_term_counts"))
    narrow = frozenset({"integer", "numeric(18,2)"})
    assert {t: frozenset(column_types(t).values()) for t in partitions} == dict.fromkeys(
        partitions, narrow
    )

    migrate_to_latest()

    wide = frozenset({"bigint", "numeric(34,2)"})
    assert {t: frozenset(column_types(t).values()) for t in partitions} == dict.fromkeys(
        partitions, wide
    )
    assert attached(detached) is False
    assert b.read_tables() == before
    rebuild("daily_sales")  # ATTACH takes the detached partition: its types are the parent's
    assert attached(detached) is True
    assert b.read_tables() == before
    # What a 32-bit count and an 18-digit sum could not hold, in the partitions of both.
    day = DailySales.objects.get(generation=rebuilding.generation)
    day.items_sold += 2**40
    day.gross_revenue += Decimal("10") ** 31
    day.save()
    day.refresh_from_db()
    assert (day.items_sold, day.gross_revenue) == (2**40 + 3, Decimal("10") ** 31 + Decimal("7.50"))
    customer = CustomerSummary.objects.get(customer_id="alice")
    customer.order_count = 2**62
    customer.lifetime_value = Decimal("9" * 32 + ".99")
    customer.save()
    customer.refresh_from_db()
    assert (customer.order_count, customer.lifetime_value) == (2**62, Decimal("9" * 32 + ".99"))
