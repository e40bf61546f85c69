"""Forgetting a customer (the contract's "Personal data (erasure)"): their address lines, city and
postal code read "[erased]" on every endpoint, export and admin page, in every table (a scan of
each text and JSON column of each table, the log included), after a rebuild too; the log is
never changed; no key and no personal value reaches a log line."""

from __future__ import annotations

import json
import logging
import re
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from backoffice.roles import ensure_roles
from eventstore import personal, store
from eventstore.backends import backend
from eventstore.models import Event, PersonalKey
from orders.customers import CUSTOMER_FORGOTTEN, customer_stream_id
from orders.streams import stream_id_for
from tests.projections import builders as b

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ERASED = "[erased]"
# Erin's values, each unique in the whole database: a scan that finds one found a leak.
ERIN_FIRST = {
    "line1": "77 Quillfeather Lane",
    "line2": "Flat Zephyrine",
    "city": "Xandravale",
    "postal_code": "QX-90210",
    "country": "PT",
}
ERIN_MOVED = {
    "line1": "3 Wobblecombe Row",
    "line2": "",
    "city": "Brimwoodtown",
    "postal_code": "BW-31337",
    "country": "PT",
}
ERIN_VALUES = [v for a in (ERIN_FIRST, ERIN_MOVED) for k, v in a.items() if k != "country" and v]
FRANK = {
    "line1": "9 Keepsake Road",
    "line2": "",
    "city": "Keepsakeville",
    "postal_code": "KS-1",
    "country": "US",
}


def item(product_id: str = "sku-1") -> dict[str, Any]:
    return {"product_id": product_id, "quantity": 1, "unit_price": "10.00"}


def create(api: APIClient, customer_id: str, address: dict[str, Any]) -> Any:
    return api.post(
        "/api/orders",
        {"customer_id": customer_id, "items": [item()], "shipping_address": address},
        format="json",
    )


@pytest.fixture
def boss_api(django_user_model: type[User]) -> APIClient:
    user = django_user_model.objects.create_superuser(username="dpo", password=None)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def boss_site(django_user_model: type[User]) -> Client:
    user = django_user_model.objects.create_superuser(username="site-boss", password=None)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def orders(api: APIClient) -> dict[str, str]:
    """Erin's two orders (one moved to a second address) and Frank's, applied."""
    first = create(api, "erin", ERIN_FIRST)
    second = create(api, "erin", ERIN_FIRST)
    frank = create(api, "frank", FRANK)
    assert {first.status_code, second.status_code, frank.status_code} == {201}
    moved = api.put(
        f"/api/orders/{second.json()['order_id']}/shipping-address", ERIN_MOVED, format="json"
    )
    assert moved.status_code == 200
    b.catch_up_until_applied()
    return {
        "first": first.json()["order_id"],
        "second": second.json()["order_id"],
        "frank": frank.json()["order_id"],
    }


def forget(api: APIClient, customer_id: str = "erin", reason: str = "GDPR request 2026-118") -> Any:
    return api.post(f"/api/customers/{customer_id}/forget", {"reason": reason}, format="json")


def export(path: Path, stream: str | None = None) -> str:
    args = ["--output", str(path)] + (["--stream", stream] if stream else [])
    call_command("eventstore_export", *args, stderr=StringIO())
    return path.read_text()


def text_and_json_columns() -> list[tuple[str, str]]:
    """Every text, character and JSON column of every table of the database (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name
            FROM information_schema.columns AS c
            JOIN information_schema.tables AS t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
            """
        )
        return list(cursor.fetchall())


def found_anywhere(values: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) for each value some row of some text or JSON column holds."""
    found = []
    with connection.cursor() as cursor:
        for table, column in text_and_json_columns():
            for value in values:
                cursor.execute(
                    f'SELECT 1 FROM "{table}" WHERE strpos(lower("{column}"::text), lower(%s)) > 0 '
                    "LIMIT 1",
                    [value],
                )
                if cursor.fetchone():
                    found.append((table, column, value))
    return found


def erased_address(country: str = "PT") -> dict[str, str]:
    return {
        "line1": ERASED,
        "line2": ERASED,
        "city": ERASED,
        "postal_code": ERASED,
        "country": country,
    }


def test_personal_fields_are_sealed_in_the_log_and_clear_everywhere_else(
    api: APIClient, orders: dict[str, str]
) -> None:
    stored = Event.objects.get(stream_id=stream_id_for(uuid.UUID(orders["first"])), version=1)
    assert stored.data["shipping_address"] == {"country": "PT"}
    assert stored.data["customer_id"] == "erin"  # pseudonymous: kept clear and queryable
    assert stored.data[personal.SEALED]["subject"] == "erin"
    assert found_anywhere(ERIN_VALUES) == [
        # Before the forget only the read model holds them in clear (the log is sealed).
        (table, column, value)
        for table, column, value in found_anywhere(ERIN_VALUES)
        if table.startswith("projections_")
    ]
    view = api.get(f"/api/orders/{orders['first']}").json()
    assert view["shipping_address"] == ERIN_FIRST
    history = api.get(f"/api/orders/{orders['second']}/history").json()
    assert history[1]["data"]["shipping_address"] == ERIN_MOVED
    assert api.get("/api/orders/search", {"q": "Xandravale"}).json()["total"] == 1


def test_after_a_forget_no_endpoint_export_table_or_rebuild_shows_the_personal_fields(
    api: APIClient,
    boss_api: APIClient,
    boss_site: Client,
    orders: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = bytes(PersonalKey.objects.get(subject_id="erin").key or b"")
    log_before = Event.objects.count()

    response = forget(boss_api)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"customer_id", "forgotten_at", "position"}
    assert body["customer_id"] == "erin"
    recorded = Event.objects.get(global_position=body["position"])
    assert (recorded.stream_id, recorded.event_type) == (
        customer_stream_id("erin"),
        CUSTOMER_FORGOTTEN,
    )
    assert recorded.data["reason"] == "GDPR request 2026-118"
    assert recorded.data["forgotten_by"] == "dpo"
    assert recorded.metadata["actor"] == "dpo"
    assert Event.objects.count() == log_before + 1  # the log only grew
    assert PersonalKey.objects.get(subject_id="erin").key is None

    # The order views, the customer's orders, search.
    first = api.get(f"/api/orders/{orders['first']}").json()
    second = api.get(f"/api/orders/{orders['second']}").json()
    assert first["shipping_address"] == erased_address()
    assert second["shipping_address"] == erased_address()
    assert first["customer_id"] == "erin"
    page = api.get("/api/customers/erin/orders").json()
    assert page["total"] == 2
    assert all(o["shipping_address"] == erased_address() for o in page["items"])
    for word in ("Xandravale", "Brimwoodtown", "Quillfeather", "erased"):
        assert api.get("/api/orders/search", {"q": word}).json()["total"] == 0, word
    assert api.get("/api/orders/search", {"q": "erin"}).json()["total"] == 2
    assert api.get("/api/orders/search", {"q": "Keepsakeville"}).json()["total"] == 1
    # History and state, at every version.
    history = api.get(f"/api/orders/{orders['second']}/history").json()
    assert [e["data"]["shipping_address"] for e in history] == [erased_address()] * 2
    for query in ({}, {"version": 1}, {"version": 2}):
        state = api.get(f"/api/orders/{orders['second']}/state", query).json()
        assert state["shipping_address"] == erased_address(), query
    # Frank is untouched.
    frank = api.get(f"/api/orders/{orders['frank']}").json()
    assert frank["shipping_address"] == FRANK

    # Exports (the whole log and one stream), then the admin pages.
    stream = stream_id_for(uuid.UUID(orders["second"]))
    whole, one = export(tmp_path / "all.jsonl"), export(tmp_path / "one.jsonl", stream)
    for exported in (whole, one):
        assert not [v for v in ERIN_VALUES if v.lower() in exported.lower()]
        assert personal.SEALED not in exported  # neither envelopes nor keys leave the store
        assert ERASED in exported
    assert "Keepsakeville" in whole
    event_id = Event.objects.get(stream_id=stream, version=2).pk
    for url in (
        f"/admin/projections/orderview/{orders['second']}/change/",
        f"/admin/projections/orderview/{orders['second']}/history/",
        "/admin/projections/orderview/?customer_id=erin",
        f"/admin/streams/{stream}/",
        f"/admin/streams/{stream}/?version=1",
        f"/admin/eventstore/event/{event_id}/change/",
        f"/admin/streams/{customer_stream_id('erin')}/",
        "/admin/projections/customersummary/?q=erin",
        "/admin/",
    ):
        response = boss_site.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not [v for v in ERIN_VALUES if v.lower() in html.lower()], url

    searched = boss_site.get("/admin/projections/orderview/", {"q": "Xandravale"})
    assert not re.findall(
        r"/admin/projections/orderview/([0-9a-f-]{36})/change/", searched.content.decode()
    )

    # Every text and JSON column of every table, the log included.
    assert found_anywhere(ERIN_VALUES) == []
    assert found_anywhere(["Keepsakeville"])  # the scan does find what is there

    # A rebuild reads "[erased]" from the log: the same tables, nothing brought back.
    before = b.read_tables()
    call_command("rebuild_projection", "--all", "--no-progress", stdout=StringIO())
    assert b.read_tables() == before
    assert found_anywhere(ERIN_VALUES) == []
    assert api.get(f"/api/orders/{orders['first']}").json()["shipping_address"] == (
        erased_address()
    )

    # No log line carried a personal value or the key.
    lines = "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records
    )  # message and extras
    assert not [v for v in ERIN_VALUES if v in lines]
    assert key.hex() not in lines
    assert personal.base64.b64encode(key).decode() not in lines


def test_forgetting_again_answers_the_first_forget_and_appends_nothing(
    boss_api: APIClient, orders: dict[str, str]
) -> None:
    first = forget(boss_api).json()
    count = Event.objects.count()
    again = forget(boss_api, reason="asked twice")
    assert again.status_code == 200
    assert again.json() == first
    assert Event.objects.count() == count


def test_a_customer_never_seen_can_be_forgotten_and_then_gets_no_order(
    api: APIClient, boss_api: APIClient
) -> None:
    assert forget(boss_api, "ghost").status_code == 200
    response = create(api, "ghost", FRANK)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "customer_forgotten"


def test_no_new_personal_data_of_a_forgotten_customer_is_recorded(
    api: APIClient, boss_api: APIClient, orders: dict[str, str]
) -> None:
    forget(boss_api)
    count = Event.objects.count()
    created = create(api, "erin", ERIN_FIRST)
    moved = api.put(f"/api/orders/{orders['first']}/shipping-address", ERIN_MOVED, format="json")
    for response in (created, moved):
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert error["code"] == "customer_forgotten"
        assert "erin" in error["message"]
    assert Event.objects.count() == count
    # Commands that record no personal data still work on their orders.
    assert (
        api.post(f"/api/orders/{orders['first']}/items", item("sku-2"), format="json").status_code
        == 200
    )
    assert api.post(f"/api/orders/{orders['first']}/ship", {}, format="json").status_code == 200
    b.catch_up_until_applied()
    view = api.get(f"/api/orders/{orders['first']}").json()
    assert (view["status"], view["shipping_address"]) == ("shipped", erased_address())
    assert found_anywhere(ERIN_VALUES) == []


def test_a_key_another_process_kept_from_before_the_forget_seals_nothing(
    api: APIClient, boss_api: APIClient, orders: dict[str, str]
) -> None:
    """Appends cache keys per process; the append statement checks the cached key against
    the key table, so a forget in another process takes effect on the next append here."""
    key = bytes(PersonalKey.objects.get(subject_id="erin").key or b"")
    forget(boss_api)
    personal.append_keys.put("erin", key)  # as a process that forgot nothing of it would hold
    response = create(api, "erin", ERIN_FIRST)
    assert response.status_code == 409
    assert personal.append_keys.get("erin") is None


def test_a_key_made_by_another_process_is_read_and_used(api: APIClient) -> None:
    assert create(api, "gina", FRANK).status_code == 201
    personal.append_keys.put("gina", personal.new_key())  # a stale guess of this process
    second = create(api, "gina", FRANK)
    assert second.status_code == 201
    key = bytes(PersonalKey.objects.get(subject_id="gina").key or b"")
    assert personal.append_keys.get("gina") == key
    order = api.get(f"/api/orders/{second.json()['order_id']}/state").json()
    assert order["shipping_address"] == FRANK


def test_a_command_on_an_order_seals_with_the_key_its_load_read(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create(api, "hana", FRANK)
    assert created.status_code == 201
    personal.append_keys.drop("hana")  # as in another process, which never sealed for her
    # The load read her key: the append seals with it at once, no guess to be refused.
    monkeypatch.setattr(
        backend(), "sealing_key", lambda subject: pytest.fail("the key was guessed")
    )
    order_id = created.json()["order_id"]
    moved = api.put(f"/api/orders/{order_id}/shipping-address", ERIN_MOVED, format="json")
    assert moved.status_code == 200, moved.content
    assert personal.append_keys.get("hana") == bytes(
        PersonalKey.objects.get(subject_id="hana").key or b""
    )


@pytest.mark.parametrize(
    ("customer_id", "body", "field"),
    [
        ("erin", {}, "reason"),
        ("erin", {"reason": ""}, "reason"),
        ("erin", {"reason": "x" * 501}, "reason"),
        ("erin", {"reason": 12}, "reason"),
        ("erin", {"reason": "ok", "extra": 1}, "extra"),
        ("not a valid id!", {"reason": "ok"}, "customer_id"),
        ("x" * 65, {"reason": "ok"}, "customer_id"),
    ],
)
def test_a_forget_with_bad_input_is_a_400_and_forgets_nothing(
    boss_api: APIClient, customer_id: str, body: dict[str, Any], field: str
) -> None:
    response = boss_api.post(f"/api/customers/{customer_id}/forget", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert not PersonalKey.objects.filter(forgotten_at__isnull=False).exists()


def test_a_forget_names_only_the_query_parameters_it_does_not_take(boss_api: APIClient) -> None:
    response = boss_api.post(
        "/api/customers/erin/forget?format=json&dry_run=1", {"reason": "asked"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"dry_run"}
    assert not PersonalKey.objects.filter(forgotten_at__isnull=False).exists()


def test_a_forget_needs_the_permission(
    api: APIClient, django_user_model: type[User], orders: dict[str, str]
) -> None:
    denied = forget(api)  # a clerk: may send order commands, not forget customers
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    assert (
        APIClient().post("/api/customers/erin/forget", {"reason": "x"}, format="json").status_code
        == 401
    )
    assert not PersonalKey.objects.filter(forgotten_at__isnull=False).exists()
    support = django_user_model.objects.create_user(username="support-1")
    ensure_roles(apps)
    support.groups.add(Group.objects.get(name="support"))
    client = APIClient()
    client.force_authenticate(support)
    assert forget(client).status_code == 200


def test_the_trailing_slash_form_works_too(boss_api: APIClient) -> None:
    response = boss_api.post("/api/customers/erin/forget/", {"reason": "x"}, format="json")
    assert response.status_code == 200


def test_the_forget_event_records_no_personal_data(
    boss_api: APIClient, orders: dict[str, str]
) -> None:
    forget(boss_api)
    recorded = Event.objects.get(event_type=CUSTOMER_FORGOTTEN)
    text = json.dumps([recorded.data, recorded.metadata])
    assert not [v for v in ERIN_VALUES if v in text]
    assert set(recorded.data) == {"customer_id", "reason", "forgotten_by", "forgotten_at"}


def test_the_log_is_never_updated_by_a_forget(boss_api: APIClient, orders: dict[str, str]) -> None:
    before = list(Event.objects.order_by("global_position").values_list("data", flat=True))
    forget(boss_api)
    after = list(Event.objects.order_by("global_position").values_list("data", flat=True))
    assert after[: len(before)] == before


def test_an_export_of_clear_addresses_imports_sealed_and_a_forget_survives_the_trip(
    api: APIClient, boss_api: APIClient, orders: dict[str, str], tmp_path: Path
) -> None:
    forget(boss_api)
    path = tmp_path / "export.jsonl"
    exported = export(path)
    lines = [json.loads(line) for line in exported.splitlines() if line.strip()]
    kinds = {line.get("kind") for line in lines}
    assert "forgotten_subject" in kinds
    assert all("key" not in line for line in lines)
    # Frank's address is in clear in the export (an export is the operator's to keep safe).
    assert "Keepsakeville" in exported

    b.delete_log_and_read_models()
    PersonalKey.objects.all().delete()
    call_command("eventstore_import", str(path), stderr=StringIO())
    frank = Event.objects.get(stream_id=stream_id_for(uuid.UUID(orders["frank"])), version=1)
    assert personal.SEALED in frank.data
    assert "Keepsakeville" not in json.dumps(frank.data)
    assert PersonalKey.objects.get(subject_id="erin").key is None
    assert PersonalKey.objects.get(subject_id="frank").key is not None
    payloads = store.read_stream_payloads(stream_id_for(uuid.UUID(orders["first"])))
    assert payloads[0][1]["shipping_address"] == erased_address()
    assert (
        store.read_stream_payloads(stream_id_for(uuid.UUID(orders["frank"])))[0][1][
            "shipping_address"
        ]
        == FRANK
    )
    assert create(api, "erin", ERIN_FIRST).status_code == 409
