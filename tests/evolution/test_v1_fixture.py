"""The v1 fixture: an export written by the code of commit be4d7a5, whose OrderItemAdded events
are v1 (the units added, the line worked out on every replay), loaded into a fresh database.

History, state at every version and every read model must answer what that code answered
(tests/fixtures/orders-v1-expected.json, recorded by tests/fixtures/make_v1_orders.py), the
OrderItemAdded events now as v2 with the line that code's rule gave.
"""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from eventstore.models import Event
from tests.projections import builders as b

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPORT = FIXTURES / "orders-v1.jsonl"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "orders-v1-expected.json").read_text("utf-8"))

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def imported(settings: Any) -> None:
    # Small batches: the read models' folds meet v1 adds whose earlier events were in an
    # earlier batch (the upcaster then reads them from the log).
    settings.PROJECTION_BATCH_SIZE = 4
    settings.PROJECTION_CATCHUP_BATCH_SIZE = 4
    call_command("eventstore_import", str(EXPORT), stderr=StringIO())
    b.catch_up_until_applied()


def expected_tables() -> dict[str, Any]:
    """The read tables recorded (on PostgreSQL: the per-word counts are PostgreSQL's only)."""
    tables = dict(EXPECTED["read_tables"])
    if not b.is_postgres():
        tables["projections_ordertermcount"] = []
    return tables


def read_tables() -> dict[str, Any]:
    """The read tables as recorded: without the shard column the v1 code did not have (one
    shard: every row's part is 0)."""
    tables: dict[str, Any] = json.loads(json.dumps(b.read_tables(), sort_keys=True, default=str))
    for rows in tables.values():
        for row in rows:
            assert row.pop("shard", 0) == 0
    return tables


def stored_v1_adds() -> int:
    return Event.objects.filter(event_type="OrderItemAdded", schema_version=1).count()


def test_the_fixture_holds_v1_adds_of_every_kind() -> None:
    lines = [json.loads(line) for line in EXPORT.read_text("utf-8").splitlines()]
    types = {line["event_type"] for line in lines}
    assert types == {
        "OrderCreated",
        "OrderItemAdded",
        "OrderItemRemoved",
        "ShippingAddressChanged",
        "OrderShipped",
        "OrderCancelled",
    }
    adds = [line for line in lines if line["event_type"] == "OrderItemAdded"]
    assert {line["schema_version"] for line in adds} == {1}
    assert all("line" not in line["data"] for line in adds)
    assert EXPORT.stat().st_size + (FIXTURES / "orders-v1-expected.json").stat().st_size < 200_000


def v1_history_as_v2(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded (v1) history as v2 reads it: each add with the line that the state after
    it held (what the v1 code answered for that version)."""
    events = []
    for recorded, state in zip(order["history"], order["states"], strict=True):
        event = dict(recorded)
        if event["event_type"] == "OrderItemAdded":
            assert event["schema_version"] == 1
            [line] = [i for i in state["items"] if i["product_id"] == event["data"]["product_id"]]
            event["schema_version"] = 2
            event["data"] = {
                **event["data"],
                "line": {"quantity": line["quantity"], "unit_price": line["unit_price"]},
            }
        events.append(event)
    return events


def test_history_shows_the_v1_adds_as_v2_with_the_line_the_v1_code_gave(
    imported: None, api: APIClient
) -> None:
    assert stored_v1_adds() == 33  # the log itself is not changed
    for name, order in EXPECTED["orders"].items():
        expected = v1_history_as_v2(order)
        answer = api.get(f"/api/orders/{order['order_id']}/history")
        assert answer.status_code == 200, name
        assert answer.json() == expected, name
        # A page from the middle needs the earlier events: the upcaster reads them.
        for start in range(1, len(expected) + 1, 3):
            page = api.get(
                f"/api/orders/{order['order_id']}/history", {"from_version": start, "limit": 3}
            )
            assert page.json() == expected[start - 1 : start + 2], (name, start)


def test_state_at_every_version_is_what_the_v1_code_answered(
    imported: None, api: APIClient
) -> None:
    for name, order in EXPECTED["orders"].items():
        for version, expected in enumerate(order["states"], start=1):
            answer = api.get(f"/api/orders/{order['order_id']}/state", {"version": version})
            assert answer.json() == expected, (name, version)
        assert api.get(f"/api/orders/{order['order_id']}/state").json() == order["states"][-1]


def test_every_read_model_is_what_the_v1_code_answered(imported: None, api: APIClient) -> None:
    for name, order in EXPECTED["orders"].items():
        assert api.get(f"/api/orders/{order['order_id']}").json() == order["view"], name
    for customer, expected in EXPECTED["customers"].items():
        assert api.get(f"/api/customers/{customer}/summary").json() == expected["summary"]
        assert api.get(f"/api/customers/{customer}/orders").json() == expected["orders"]
    for key, expected in EXPECTED["queries"].items():
        path, params = key.split("?", 1)
        assert api.get(path, json.loads(params)).json() == expected, key
    assert read_tables() == expected_tables()


def test_a_rebuild_from_the_v1_log_makes_the_same_read_models(imported: None) -> None:
    from projections.engine.rebuild import rebuild

    for name in b.READ_MODEL_PROJECTIONS:
        rebuild(name)
    assert read_tables() == expected_tables()


def test_the_export_writes_v2_and_as_stored_writes_the_v1_file_back(
    imported: None, tmp_path: Path
) -> None:
    upcast, as_stored = tmp_path / "upcast.jsonl", tmp_path / "stored.jsonl"
    call_command("eventstore_export", output=str(upcast), stderr=StringIO())
    call_command("eventstore_export", output=str(as_stored), as_stored=True, stderr=StringIO())

    assert as_stored.read_text("utf-8") == EXPORT.read_text("utf-8")
    history = {
        event["position"]: event
        for order in EXPECTED["orders"].values()
        for event in v1_history_as_v2(order)
    }
    for line in upcast.read_text("utf-8").splitlines():
        record = json.loads(line)
        expected = history[record["global_position"]]
        assert (record["schema_version"], record["data"]) == (
            expected["schema_version"],
            expected["data"],
        )


def test_adds_after_the_v1_ones_are_v2_and_continue_the_line(
    imported: None, api: APIClient
) -> None:
    order = EXPECTED["orders"]["d"]  # pending: sku-mug 2 x 9.00, sku-spoon 12 x 0.45
    answer = api.post(
        f"/api/orders/{order['order_id']}/items",
        {"product_id": "sku-mug", "quantity": 3, "unit_price": "9.50"},
        format="json",
    )
    assert answer.status_code == 200
    [added] = Event.objects.filter(stream_id=f"Order-{order['order_id']}", version=6)
    assert added.schema_version == 2
    assert added.data["line"] == {"quantity": 5, "unit_price": "9.50"}
    state = api.get(f"/api/orders/{order['order_id']}/state").json()
    assert {i["product_id"]: i["quantity"] for i in state["items"]} == {
        "sku-spoon": 12,
        "sku-mug": 5,
    }
    assert Decimal(state["total_amount"]) == Decimal("52.90")


def test_upcasting_holds_through_snapshots(imported: None, api: APIClient, settings: Any) -> None:
    from orders.models import OrderStateSnapshot

    settings.ORDER_SNAPSHOT_EVERY = 2
    order = EXPECTED["orders"]["d"]  # pending, 5 events, 3 of them v1 adds
    path = f"/api/orders/{order['order_id']}"
    added = api.post(
        f"{path}/items",
        {"product_id": "sku-new", "quantity": 1, "unit_price": "1.00"},
        format="json",
    )
    assert added.status_code == 200  # its load folded the v1 adds: a snapshot after it
    [snapshot] = OrderStateSnapshot.objects.filter(order_id=order["order_id"])
    assert snapshot.version == 6
    lines = {pid: (quantity, price) for pid, quantity, price in snapshot.state["lines"]}
    assert lines == {"sku-spoon": (12, "0.45"), "sku-mug": (2, "9.00"), "sku-new": (1, "1.00")}

    # The next command starts from the snapshot; every state still answers as before.
    assert api.delete(f"{path}/items/sku-new").status_code == 200
    now = api.get(f"{path}/state").json()
    assert now == {**order["states"][-1], "version": 7, "updated_at": now["updated_at"]}
    for version, expected in enumerate(order["states"], start=1):
        assert api.get(f"{path}/state", {"version": version}).json() == expected
