"""The read models under the engine: lag reported by /api/projections, rebuilds, switches."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from projections.engine import runner
from projections.engine.generations import active_state, purge_retired, start_rebuild
from projections.engine.rebuild import rebuild
from projections.engine.tasks import catch_up
from projections.models import OrderView, OrderViewItem, ProjectionState, ProjectionStatus
from projections.read_models import selectors
from tests.projections import builders as b
from tests.projections.conftest import Clock
from tests.projections.read_models.shop import Shop, at, ok, reads, when, writes

# --- GET /api/projections -------------------------------------------------------------------
PROJECTION_KEYS = {
    "name",
    "position",
    "head_position",
    "lag_events",
    "lag_seconds",
    "status",
    "last_error",
    "updated_at",
    "shards",
}


@reads
def test_projections_report_no_lag_after_catch_up(api: APIClient, shared_shop: Shop) -> None:
    head = max(shared_shop.positions)
    rows = ok(api, "/api/projections")

    assert [row["name"] for row in rows] == ["customer_summaries", "daily_sales", "order_views"]
    for row in rows:
        assert set(row) == PROJECTION_KEYS
        # One shard when a projection is not sharded (the contract's ``shards``).
        assert row["shards"] == [
            {"index": 0, "position": head, "lag_events": 0, "status": "running"}
        ]
        assert {k: v for k, v in row.items() if k not in ("updated_at", "shards")} == {
            "name": row["name"],
            "position": head,
            "head_position": head,
            "lag_events": 0,
            "lag_seconds": 0.0,
            "status": "running",
            "last_error": None,
        }
        assert when(row["updated_at"]) == at(9)


@writes
def test_projections_report_lag_until_they_catch_up_and_stall_when_quiet(
    api: APIClient, shop: Shop, clock: Clock, settings: Any
) -> None:
    settings.PROJECTION_STALLED_SECONDS = 30
    head = max(shop.positions)
    clock.at(at(20))
    b.append_new_order(customer_id="erin")  # straight to the log: nothing wakes projections
    clock.at(at(21))
    _, appended = b.append_new_order(customer_id="frank")
    clock.at(at(21) + timedelta(seconds=12.5))

    lagging = ok(api, "/api/projections")
    for row in lagging:
        assert (row["position"], row["head_position"]) == (head, appended.last_position)
        assert (row["lag_events"], row["lag_seconds"]) == (2, 60 + 12.5)
        assert row["status"] == "stalled"  # quiet since +9 minutes with events waiting

    clock.at(at(30))
    b.catch_up_until_applied(["order_views"])
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert (rows["order_views"]["lag_events"], rows["order_views"]["status"]) == (0, "running")
    assert rows["order_views"]["position"] == appended.last_position
    assert rows["daily_sales"]["lag_events"] == 2

    clock.advance(seconds=29)
    b.append_new_order(customer_id="gina")
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert (rows["order_views"]["lag_events"], rows["order_views"]["status"]) == (1, "running")
    clock.advance(seconds=2)
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert rows["order_views"]["status"] == "stalled"


# --- rebuilds -------------------------------------------------------------------------------
def answers(api: APIClient, shop: Shop) -> dict[str, Any]:
    """Every query answer the shop's data can give, for before/after comparisons."""
    paths = [f"/api/orders/{order_id}" for order_id in shop.ids("o1", "o2", "o3", "o4", "o5")]
    paths += [f"/api/customers/{c}/orders" for c in ("alice", "bob", "carol.smith")]
    paths += [f"/api/customers/{c}/summary" for c in ("alice", "bob", "carol.smith")]
    paths += ["/api/orders/search?page_size=100", "/api/orders/search?q=widget"]
    paths += ["/api/reports/daily-sales"]
    return {path: ok(api, path) for path in paths}


def generations() -> dict[str, int]:
    return {name: active_state(name).generation for name in b.READ_MODEL_PROJECTIONS}


@writes
def test_rebuilding_one_projection_then_all_gives_identical_answers_from_new_generations(
    api: APIClient, woken_shop: Shop, clock: Clock
) -> None:
    before, tables = answers(api, woken_shop), b.read_tables()
    clock.advance(hours=5)  # timestamps must come from the events, not from the rebuild
    out = StringIO()

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=out)

    assert generations() == {"customer_summaries": 1, "daily_sales": 1, "order_views": 2}
    assert "order_views: generation 2 is live" in out.getvalue()
    assert answers(api, woken_shop) == before
    assert b.read_tables() == tables

    clock.advance(days=3)
    call_command("rebuild_projection", "--all", "--no-progress", stdout=StringIO())

    assert generations() == {"customer_summaries": 2, "daily_sales": 2, "order_views": 3}
    assert answers(api, woken_shop) == before
    assert b.read_tables() == tables
    live = ProjectionState.objects.filter(name__in=b.READ_MODEL_PROJECTIONS, active=True)
    assert {(s.name, s.status, s.position) for s in live} == {
        (name, ProjectionStatus.RUNNING, max(woken_shop.positions))
        for name in b.READ_MODEL_PROJECTIONS
    }


@writes
def test_a_replaced_generation_keeps_its_rows_for_the_grace_period_then_is_purged(
    api: APIClient, shop: Shop, clock: Clock, settings: Any
) -> None:
    settings.PROJECTION_RETIRED_GRACE_SECONDS = 60
    before = answers(api, shop)

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())

    retired = ProjectionState.objects.get(name="order_views", generation=1)
    assert (retired.active, retired.status) == (False, ProjectionStatus.RETIRED)
    assert OrderView.objects.filter(generation=1).count() == 5  # queries may still read them
    assert {row["name"]: row["status"] for row in ok(api, "/api/projections")} == dict.fromkeys(
        b.READ_MODEL_PROJECTIONS, "running"
    )

    clock.advance(seconds=59)
    assert purge_retired() == 0
    clock.advance(seconds=2)
    catch_up()  # the sweep purges what has been retired long enough

    assert not OrderView.objects.filter(generation=1).exists()
    assert not OrderViewItem.objects.filter(generation=1).exists()
    assert not ProjectionState.objects.filter(name="order_views", generation=1).exists()
    assert answers(api, shop) == before


class Interrupted(Exception):
    pass


@writes
def test_an_interrupted_rebuild_keeps_the_old_generation_serving_and_resumes(
    api: APIClient, shop: Shop, settings: Any
) -> None:
    before = answers(api, shop)
    settings.PROJECTION_BATCH_SIZE = 2
    target = start_rebuild("order_views")

    def stop_after_first_batch(count: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        runner.run("order_views", generation=target.generation, progress=stop_after_first_batch)

    target.refresh_from_db()
    assert 0 < target.position < max(shop.positions)
    rows = {row["name"]: row for row in ok(api, "/api/projections")}
    assert rows["order_views"]["status"] == "rebuilding"
    assert answers(api, shop) == before  # still generation 1

    call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())

    assert generations()["order_views"] == target.generation
    assert answers(api, shop) == before
    assert {row["name"]: row["status"] for row in ok(api, "/api/projections")} == dict.fromkeys(
        b.READ_MODEL_PROJECTIONS, "running"
    )


@writes
def test_a_query_overtaken_by_a_rebuild_switch_still_answers_from_the_read_model(
    api: APIClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    switched: set[str] = set()
    read_generation = selectors.active_generation

    def switch_right_after_reading_the_generation(name: str) -> int:
        generation = read_generation(name)
        if name not in switched:  # the rebuild completes between the query's two reads
            switched.add(name)
            rebuild(name)
        return generation

    monkeypatch.setattr(selectors, "active_generation", switch_right_after_reading_the_generation)

    view = api.get(f"/api/orders/{shop.o1}")
    summary = api.get("/api/customers/alice/summary")

    assert switched == {"order_views", "customer_summaries"}
    assert view.status_code == 200, view.content
    assert summary.json()["order_count"] == 2


@pytest.mark.parametrize(
    "arguments",
    [(), ("order_views", "--all"), ("no_such_projection",)],
    ids=["nothing", "both", "unknown"],
)
def test_rebuild_projection_refuses_unclear_arguments(arguments: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        call_command("rebuild_projection", *arguments, "--no-progress", stdout=StringIO())
