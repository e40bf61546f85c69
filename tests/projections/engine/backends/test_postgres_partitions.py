"""Read-model tables partitioned by generation on PostgreSQL (backends.postgres_partitions)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from projections.engine import generations, runner
from projections.models import OrderView
from projections.read_models.order_views import OrderViews
from tests.projections import builders as b

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Interrupted(Exception):
    pass


def partition(table: str, generation: int) -> dict[str, Any] | None:
    """Whether ``table``'s partition of ``generation`` exists, is attached, and its indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid, EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) "
            "FROM pg_class c WHERE c.relname = %s AND c.relkind = 'r'",
            [f"{table}_g{generation}"],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s", [row[0]])
        (indexes,) = cursor.fetchone()
    return {"attached": row[1], "indexes": indexes}


def parent_indexes(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", [table])
        (count,) = cursor.fetchone()
    return int(count)


def test_a_rebuild_fills_detached_tables_and_attaches_them_with_every_index_when_caught_up(
    api: APIClient, settings: Any
) -> None:
    settings.PROJECTION_BATCH_SIZE = 2
    orders = [b.append_new_order(customer_id=f"cust-{n}", city="Lisbon")[0] for n in range(5)]
    b.catch_up_until_applied()
    before = api.get("/api/orders/search?q=lisbon").json()
    target = generations.start_rebuild("order_views")

    def stop_after_first_batch(count: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        runner.run("order_views", generation=target.generation, progress=stop_after_first_batch)

    building = partition("projections_orderview", target.generation)
    assert building == {"attached": False, "indexes": 1}  # (generation, order_id) only
    assert not OrderView.objects.filter(generation=target.generation).exists()  # not visible
    assert api.get("/api/orders/search?q=lisbon").json() == before

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())

    for table in ("projections_orderview", "projections_orderviewitem"):
        assert partition(table, target.generation) == {
            "attached": True,
            "indexes": parent_indexes(table),
        }
    assert generations.active_state("order_views").generation == target.generation
    assert OrderView.objects.filter(generation=target.generation).count() == len(orders)
    assert api.get("/api/orders/search?q=lisbon").json() == before


def test_a_retired_generation_is_dropped_whole_after_the_grace_period(settings: Any) -> None:
    settings.PROJECTION_RETIRED_GRACE_SECONDS = 0
    b.append_new_order()
    b.catch_up_until_applied()
    assert partition("projections_customersummary", 1) is not None

    call_command("rebuild_projection", "customer_summaries", "--no-progress", stdout=StringIO())

    for table in ("projections_customersummary", "projections_customerorderfact"):
        assert partition(table, 1) is None
        assert partition(table, 2) is not None
    assert b.read_tables(["customer_summaries"])["projections_customersummary"] != []


def test_a_new_generation_never_inherits_rows_left_under_its_number(api: APIClient) -> None:
    order_id, _ = b.append_new_order()
    b.catch_up_until_applied()
    with connection.cursor() as cursor:  # as if a generation 2 had been dropped half-way
        # (an earlier test's rebuild may have left a generation 2 of its own: the flush between
        # transactional tests empties tables, it drops none)
        cursor.execute("DROP TABLE IF EXISTS projections_dailysales_g2")
        cursor.execute("CREATE TABLE projections_dailysales_g2 (LIKE projections_dailysales)")
        cursor.execute(
            "INSERT INTO projections_dailysales_g2 SELECT * FROM projections_dailysales_g1"
        )

    call_command("rebuild_projection", "daily_sales", "--no-progress", stdout=StringIO())

    [day] = b.read_tables(["daily_sales"])["projections_dailysales"]
    assert day["orders_placed"] == 1
    assert api.get(f"/api/orders/{order_id}").status_code == 200


def test_a_caught_up_rebuild_builds_its_indexes_ahead_while_the_projection_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Outside a transaction the partition's indexes are built on connections of their own
    while ``caught_up`` runs (on tables still detached), and ATTACH adopts them: no index is
    built twice, none is left that the parent lacks."""
    for n in range(3):
        b.append_new_order(customer_id=f"cust-{n}", city="Lisbon")
    b.catch_up_until_applied()
    seen: list[bool] = []
    finish = OrderViews.caught_up

    def noting(self: OrderViews, generation: int) -> None:
        building = partition("projections_orderview", generation)
        assert building is not None
        seen.append(building["attached"])
        finish(self, generation)

    monkeypatch.setattr(OrderViews, "caught_up", noting)

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())

    child = f"projections_orderview_g{generations.active_state('order_views').generation}"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass ORDER BY 1",
            [child],
        )
        indexes = cursor.fetchall()
    assert seen == [False]
    assert all(adopted for _, adopted in indexes), indexes
    built_ahead = [name for name, _ in indexes if name.startswith(f"{child}_i")]
    assert len(built_ahead) == len(indexes) - 2  # all but the primary and the unique key
    assert len(indexes) == parent_indexes("projections_orderview")
