"""Snapshots of the Order aggregate (orders.snapshots): written after the command commits once a
load folded ORDER_SNAPSHOT_EVERY events, used when present, ignored when taken by an aggregate
of another state version, never failing a command, and answering state?version= and ?at= as the
events do."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orders import snapshots
from orders.domain.model import Order
from orders.models import OrderStateSnapshot
from orders.repository import EventStoreOrderRepository
from orders.streams import stream_id_for
from tests.backoffice.long_stream import append_long_order
from tests.projections import builders as b
from tests.projections.conftest import Clock

pytestmark = pytest.mark.django_db(transaction=True)

EVERY = 5


@pytest.fixture(autouse=True)
def every_five(settings: Any) -> None:
    settings.ORDER_SNAPSHOT_EVERY = EVERY


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock the event store stamps ``recorded_at`` with, moved by the test."""
    frozen = Clock(datetime.fromisoformat("2024-03-01T10:00:00+00:00"))
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


def versions(order_id: str | uuid.UUID) -> list[int]:
    rows = OrderStateSnapshot.objects.filter(order_id=order_id).order_by("version")
    return list(rows.values_list("version", flat=True))


def an_order_of(events: int, clock: Clock | None = None) -> str:
    """An order made by ``events`` commands: created, then items added (a minute apart)."""
    order_id = b.place_order(customer_id="cust-snap", items=[("sku-0", 1, "1.00")])["order_id"]
    for n in range(1, events):
        if clock is not None:
            clock.advance(minutes=1)
        if n % 7 == 3:
            b.change_address(order_id, f"City {n}")
        else:
            b.add_item(order_id, f"sku-{n % 4}", n, f"{n}.25")
    return str(order_id)


def load(order_id: str) -> Order:
    return EventStoreOrderRepository({}).get(uuid.UUID(order_id))


def state_of_order(order: Order) -> tuple[Any, ...]:
    lines = [(line.product_id, line.quantity, line.unit_price) for line in order.lines.values()]
    return (order.version, order.status, order.customer_id, lines, order.shipping_address)


def test_a_snapshot_is_written_once_a_command_folded_n_events_and_holds_no_address() -> None:
    order_id = an_order_of(4)
    assert versions(order_id) == []  # its commands folded 0..3 events, plus their own

    b.add_item(order_id, "sku-9", 1, "9.00")  # folds 4, appends 1: five

    assert versions(order_id) == [5]
    order_id_more = an_order_of(12)
    assert versions(order_id_more) == [10]  # the one at 5 replaced (see the pruning test)
    [snapshot] = OrderStateSnapshot.objects.filter(order_id=order_id)
    assert snapshot.state_version == Order.state_version
    assert snapshot.customer_id == "cust-snap"
    assert snapshot.state["address_version"] == 4  # the address changed by event 4
    text = str(snapshot.state)
    assert "City" not in text and "Main St" not in text and "12345" not in text


def test_loading_uses_the_latest_snapshot_and_only_the_events_after_it() -> None:
    order_id = an_order_of(12)
    truth = state_of_order(load(order_id))
    # A snapshot that says otherwise shows that it is what the load starts from.
    snapshot = OrderStateSnapshot.objects.get(order_id=order_id, version=10)
    snapshot.state = {**snapshot.state, "customer_id": "from-the-snapshot"}
    snapshot.save()

    assert load(order_id).customer_id == "from-the-snapshot"
    assert state_of_order(load(order_id))[3:] == truth[3:]  # lines and address from the log
    OrderStateSnapshot.objects.all().delete()
    assert state_of_order(load(order_id)) == truth


def test_a_snapshot_of_another_state_version_is_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order_id = an_order_of(12)
    OrderStateSnapshot.objects.filter(order_id=order_id).update(
        state={"status": "nonsense"}, customer_id="old"
    )
    monkeypatch.setattr(Order, "state_version", Order.state_version + 1)

    order = load(order_id)

    assert (order.version, order.customer_id) == (12, "cust-snap")
    b.add_item(order_id, "sku-1", 1, "1.00")  # folded 12 events: due, at the new version
    assert list(
        OrderStateSnapshot.objects.filter(
            order_id=order_id, state_version=Order.state_version
        ).values_list("version", flat=True)
    ) == [13]


def test_a_snapshot_is_written_after_the_command_commits_and_not_at_all_if_it_rolls_back() -> None:
    order_id = an_order_of(4)
    with transaction.atomic():
        b.add_item(order_id, "sku-9", 1, "9.00")
        assert versions(order_id) == []  # not before the commit
    assert versions(order_id) == [5]

    other = an_order_of(4)
    with pytest.raises(RuntimeError), transaction.atomic():
        b.add_item(other, "sku-9", 1, "9.00")
        raise RuntimeError("the caller's transaction fails")
    assert versions(other) == []


def test_a_snapshot_that_cannot_be_written_fails_nothing_and_logs_no_personal_data(
    monkeypatch: pytest.MonkeyPatch, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = an_order_of(4)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError('duplicate key (state)=({"line1": "1 Main St", "city": "Springfield"})')

    monkeypatch.setattr(OrderStateSnapshot.objects, "bulk_create", broken)
    with caplog.at_level(logging.WARNING, logger="orders.snapshots"):
        answer = api.post(
            f"/api/orders/{order_id}/items",
            {"product_id": "sku-9", "quantity": 1, "unit_price": "9.00"},
            format="json",
        )

    assert answer.status_code == 200
    assert answer.json()["version"] == 5
    assert versions(order_id) == []
    [record] = [r for r in caplog.records if r.name == "orders.snapshots"]
    assert "not written (DatabaseError)" in record.getMessage()
    assert "Main St" not in caplog.text and "Springfield" not in caplog.text


def test_only_the_latest_snapshot_and_about_one_per_thousand_versions_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snapshots, "KEEP_ONE_PER", 10)  # (1000 in production)
    order_id = an_order_of(26)

    # Each new snapshot replaces the one its command's load started from, unless that one is
    # the first past a multiple of KEEP_ONE_PER (version % 10 < ORDER_SNAPSHOT_EVERY).
    assert versions(order_id) == [10, 20, 25]


def test_state_at_every_version_and_time_is_the_same_with_and_without_snapshots(
    api: APIClient, clock: Clock, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "KEEP_ONE_PER", 10)  # several kept below the end
    order_id = an_order_of(23, clock)
    b.ship(order_id)
    assert versions(order_id) == [10, 20]
    history = api.get(f"/api/orders/{order_id}/history").json()

    def states() -> list[Any]:
        answers = [api.get(f"/api/orders/{order_id}/state").json()]
        for event in history:
            answers.append(
                api.get(f"/api/orders/{order_id}/state", {"version": event["version"]}).json()
            )
            at = event["recorded_at"]
            answers.append(api.get(f"/api/orders/{order_id}/state", {"at": at}).json())
        return answers

    with_snapshots = states()
    settings.ORDER_SNAPSHOT_EVERY = 0  # none read: every state folded from the first event
    assert states() == with_snapshots
    assert with_snapshots[0]["status"] == "shipped" and with_snapshots[0]["shipped_at"]
    before = (clock.now - timedelta(days=1)).isoformat()
    assert api.get(f"/api/orders/{order_id}/state", {"at": before}).status_code == 404
    assert api.get(f"/api/orders/{order_id}/state", {"version": 99}).status_code == 400


def test_a_long_order_written_before_snapshots_gets_one_at_its_next_command(
    api: APIClient,
) -> None:
    order_id = append_long_order(1_000)
    assert versions(order_id) == []

    b.add_item(str(order_id), "part-new", 1, "1.00")

    assert versions(order_id) == [1_001]
    truth = api.get(f"/api/orders/{order_id}/state").json()
    b.add_item(str(order_id), "part-new", 2, "1.50")
    assert versions(order_id) == [1_001]  # folded 1 event, appended 1
    after = api.get(f"/api/orders/{order_id}/state").json()
    [line] = [i for i in after["items"] if i["product_id"] == "part-new"]
    assert (line["quantity"], after["item_count"]) == (3, truth["item_count"] + 2)
    assert after["shipping_address"] == truth["shipping_address"]


def test_snapshots_of_a_customer_can_be_deleted() -> None:
    kept = an_order_of(6)
    OrderStateSnapshot.objects.filter(order_id=kept).update(customer_id="someone-else")
    gone = an_order_of(11)
    assert versions(gone) == [10]

    assert snapshots.delete_snapshots_of_customer("cust-snap") == 1
    assert versions(gone) == [] and versions(kept) == [5]
    assert load(gone).version == 11


def test_the_stream_of_a_snapshot_is_read_through_the_store() -> None:
    order_id = an_order_of(6)
    assert snapshots.address_at(stream_id_for(uuid.UUID(order_id)), 1) == b.address()
