"""Sharded projections: a new shard count is a rebuild; each shard applies its own orders' events;
the tables several shards write add up to the fold of the log; status and read-your-writes see
every shard."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from rest_framework.test import APIClient

from eventstore import store
from eventstore.personal import ERASED
from eventstore.store import Shard
from orders.customers import forget_customer
from orders.streams import stream_id_for
from projections.engine import followers, sharding
from projections.engine.consistency import wait_until_applied
from projections.engine.generations import active_generation, active_state
from projections.engine.leases import claim, release
from projections.engine.rebuild import rebuild
from projections.engine.status import projection_status_list
from projections.models import OrderStatusCount, OrderTermCount, OrderView, ProjectionState
from tests.faults.fold import assert_read_models_equal_the_log
from tests.projections import builders as b

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SHARDS = {"order_views": 4, "customer_summaries": 2, "daily_sales": 2}


def _traffic(orders: int, *, offset: int = 0) -> list[dict[str, Any]]:
    placed = []
    for n in range(offset, offset + orders):
        body = b.place_order(
            customer_id=f"cust-{n % 3}", items=(("sku-1", 1 + n % 4, "10.00"),), city=f"C{n % 5}"
        )
        placed.append(body)
        if n % 3 == 0:
            b.ship(body["order_id"])
        elif n % 3 == 1:
            b.add_item(body["order_id"], "sku-2", 2, "3.50")
        if n % 5 == 4 and n % 3:
            b.cancel(body["order_id"])
    return placed


def test_a_new_shard_count_is_a_rebuild_and_the_shards_add_up_to_the_log(
    settings: Any, api: APIClient
) -> None:
    _traffic(12)
    b.catch_up_until_applied()
    settings.PROJECTION_SHARDS = SHARDS
    # The live generations keep their one shard until rebuilt.
    assert active_state("order_views").shards == 1
    for name, count in SHARDS.items():
        rebuild(name)
        states = ProjectionState.objects.filter(name=name, active=True).order_by("shard")
        assert [(s.shard, s.shards) for s in states] == [(k, count) for k in range(count)]
    _traffic(20, offset=12)
    b.catch_up_until_applied()
    assert_read_models_equal_the_log()
    # Shards really split the work: each applied a part, none all of it.
    applied = ProjectionState.objects.filter(name="order_views", active=True)
    parts = [s.events_applied for s in applied]
    assert sum(parts) == len(store.read_all(limit=10_000)) and max(parts) < sum(parts)
    # The per-status counts have a part per shard that wrote one.
    assert (
        OrderStatusCount.objects.filter(generation=applied[0].generation)
        .values("shard")
        .distinct()
        .count()
        > 1
    )

    [views] = [row for row in api.get("/api/projections").json() if row["name"] == "order_views"]
    assert [shard["index"] for shard in views["shards"]] == [0, 1, 2, 3]
    assert views["position"] == min(shard["position"] for shard in views["shards"])
    assert views["lag_events"] == 0 and {s["status"] for s in views["shards"]} == {"running"}
    assert set(views["shards"][0]) == {"index", "position", "lag_events", "status"}

    out = StringIO()
    call_command("projection_status", stdout=out)
    assert "shard 3" in out.getvalue()


def test_read_your_writes_waits_for_every_shard_and_only_for_its_own_events(
    settings: Any,
) -> None:
    settings.PROJECTION_SHARDS = {"order_views": 4}
    rebuild("order_views")
    placed = _traffic(6)
    b.catch_up_until_applied(["order_views"])
    last = max(body["position"] for body in placed)
    # Shards whose last event is older than ``last`` hold none between: applied.
    states = ProjectionState.objects.filter(name="order_views", active=True)
    assert any(s.position < last for s in states)
    assert wait_until_applied(["order_views"], last, timeout=2.0)
    # An event no shard has applied yet (appended without waking anything).
    position = b.append_new_order()[1].last_position
    assert not wait_until_applied(["order_views"], position, timeout=0.3)
    b.catch_up_until_applied(["order_views"])
    assert wait_until_applied(["order_views"], position, timeout=2.0)
    statuses = {row["name"]: row for row in projection_status_list()}
    assert len(statuses["order_views"]["shards"]) == 4


def test_shard_counts_are_checked_at_start_up(settings: Any) -> None:
    settings.PROJECTION_SHARDS = {"order_views": 3, "orders_viewz": 2}
    with pytest.raises(ImproperlyConfigured) as refused:
        sharding.check_configuration()
    assert "order_views=3: not a power of two" in str(refused.value)
    assert "'orders_viewz' is no projection" in str(refused.value)
    settings.PROJECTION_SHARDS = {"order_views": 4}
    sharding.check_configuration()
    assert followers.shard_count(followers.get("order_views")) == 4
    assert followers.shard_count(followers.get("daily_sales")) == 1
    assert store.BUCKETS == 16


def test_a_cursor_known_only_by_its_id_learns_its_shard_count_from_its_claim(
    settings: Any,
) -> None:
    settings.PROJECTION_SHARDS = {"order_views": 4}
    rebuild("order_views")
    live = ProjectionState.objects.get(name="order_views", shard=2, active=True)
    # What the catch-up's hint holds: the id and generation only.
    hint = ProjectionState(pk=live.pk, name=live.name, generation=live.generation, shard=2)
    turn = claim(hint)
    assert turn.lease is not None
    release(hint, turn.lease)
    assert (hint.shards, hint.active) == (4, True)


def test_a_forget_scrubs_every_shards_orders_and_no_shard_writes_the_address_back(
    settings: Any,
) -> None:
    settings.PROJECTION_SHARDS = {"order_views": 4}
    rebuild("order_views")
    placed = [b.place_order(customer_id="erin", city="Quillfeatherton") for _ in range(12)]
    b.place_order(customer_id="frank", city="Keepsakeville")
    b.catch_up_until_applied(["order_views"])  # each shard keeps its orders' states in memory
    streams = [stream_id_for(body["order_id"]) for body in placed]
    shards_of_erin = {k for k in range(4) if store.streams_in(streams, Shard(k, 4))}
    assert len(shards_of_erin) > 1  # the forget's stream is in one shard only

    forget_customer("erin", "asked", actor="tests", correlation_id="c-1")
    b.catch_up_until_applied(["order_views"])
    # Every shard's next event of her orders folds from its kept state: scrubbed too.
    for body in placed:
        b.ship(body["order_id"])
    b.catch_up_until_applied(["order_views"])

    views = OrderView.objects.filter(
        customer_id="erin", generation=active_generation("order_views")
    )
    assert views.count() == len(placed)
    for view in views:
        assert {view.shipping_address[k] for k in ("line1", "city", "postal_code")} == {ERASED}
        assert view.status == "shipped" and "quillfeatherton" not in view.search_text.lower()
    assert not OrderTermCount.objects.filter(term__icontains="quillfeatherton").exists()
    assert OrderTermCount.objects.filter(term__icontains="keepsakeville").exists()
    assert_read_models_equal_the_log()
