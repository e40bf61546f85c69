"""Staff act on orders through the command service: recorded as them, refused without the
permission or by the order's rules, and shown once the read model has the change."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from eventstore.models import Event
from orders.streams import stream_id_for
from projections.read_models.models import OrderView
from tests.backoffice.conftest import VIEW_ALL, StaffFactory
from tests.projections import builders as b
from tests.projections.read_models.shop import Shop

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = "/admin/projections/orderview/"


def events_of(order_id: str) -> list[Event]:
    return list(Event.objects.filter(stream_id=stream_id_for(order_id)).order_by("version"))


def order_row(order_id: str) -> OrderView:
    return OrderView.objects.get(order_id=order_id)


def test_a_clerk_cancels_an_order_and_sees_it_cancelled_recorded_as_them(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    response = clerk_staff.post(
        f"{ORDERS}{admin_shop.o1}/cancel/", {"reason": "out of stock"}, follow=True
    )

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == f"{ORDERS}{admin_shop.o1}/change/"
    assert f"Order {admin_shop.o1} cancelled." in html
    assert '<span class="badge badge-cancelled">cancelled</span>' in html
    assert "out of stock" in html
    last = events_of(admin_shop.o1)[-1]
    assert (last.event_type, last.data["reason"]) == ("OrderCancelled", "out of stock")
    assert last.metadata["actor"] == "clerk-staff"
    assert last.metadata["command_type"] == "CancelOrder"


def test_a_cancel_needs_a_reason_and_appends_nothing_without_one(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    response = clerk_staff.post(f"{ORDERS}{admin_shop.o1}/cancel/", {"reason": "   "})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert len(events_of(admin_shop.o1)) == 1


def test_a_business_rule_refusal_is_an_error_message_and_changes_nothing(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    response = clerk_staff.post(f"{ORDERS}{admin_shop.o2}/cancel/", {"reason": "too late"})
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "A shipped order can&#x27;t be cancelled."
        in html.split('class="errornote form-refusal"')[1]
    )
    assert [e.event_type for e in events_of(admin_shop.o2)] == ["OrderCreated", "OrderShipped"]
    assert order_row(admin_shop.o2).status == "shipped"


def test_staff_without_the_command_permission_are_refused_and_see_no_command(
    staff: StaffFactory, admin_shop: Shop
) -> None:
    viewer = staff(*VIEW_ALL, username="viewer")
    for name in ("cancel", "ship", "address"):
        url = f"{ORDERS}{admin_shop.o1}/{name}/"
        assert viewer.get(url).status_code == 403
        assert viewer.post(url, {"reason": "x", "carrier": "x"}).status_code == 403
    html = viewer.get(f"{ORDERS}{admin_shop.o1}/change/").content.decode()
    assert "/cancel/" not in html
    assert "Ship selected orders" not in viewer.get(ORDERS).content.decode()
    viewer.post(
        ORDERS,
        {
            "action": "ship_selected",
            "_selected_action": [order_row(admin_shop.o1).pk],
            "apply": "1",
        },
    )
    assert len(events_of(admin_shop.o1)) == 1


def test_a_clerk_ships_with_a_carrier_and_changes_an_address(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    clerk_staff.post(
        f"{ORDERS}{admin_shop.o5}/address/",
        {"line1": "9 Elm St", "city": "Cypress Creek", "postal_code": "999", "country": "US"},
    )
    clerk_staff.post(
        f"{ORDERS}{admin_shop.o5}/ship/", {"carrier": "DHL", "tracking_number": "JD0001"}
    )
    row = order_row(admin_shop.o5)
    assert (row.status, row.carrier, row.tracking_number) == ("shipped", "DHL", "JD0001")
    assert row.shipping_address["city"] == "Cypress Creek"
    assert {e.metadata["actor"] for e in events_of(admin_shop.o5)[-2:]} == {"clerk-staff"}


def test_ship_selected_asks_for_the_carrier_then_ships_what_it_may(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    chosen = [order_row(o).pk for o in (admin_shop.o1, admin_shop.o3, admin_shop.o4)]
    form = clerk_staff.post(ORDERS, {"action": "ship_selected", "_selected_action": chosen})
    assert form.status_code == 200
    asked = form.content.decode()
    assert 'name="carrier"' in asked
    assert f"{admin_shop.o3} · alice" in asked
    assert "cancelled: can&#x27;t be shipped, left as it is" in asked
    assert asked.count("pending: will be shipped") == 2
    assert 'value="Ship 2 orders"' in asked

    done = clerk_staff.post(
        ORDERS,
        {"action": "ship_selected", "_selected_action": chosen, "carrier": "UPS", "apply": "1"},
        follow=True,
    )
    html = done.content.decode()
    assert "2 orders shipped." in html
    assert "1 of the selected orders were not pending and were left as they were." in html
    assert [order_row(o).status for o in (admin_shop.o1, admin_shop.o3, admin_shop.o4)] == [
        "shipped",
        "cancelled",
        "shipped",
    ]


def test_the_page_says_so_when_the_read_model_has_not_caught_up_yet(
    clerk_staff: Client, admin_shop: Shop, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr("orders.services.announce_commit", lambda: None)
    settings.BACKOFFICE_CONSISTENCY_TIMEOUT = 0.2
    response = clerk_staff.post(
        f"{ORDERS}{admin_shop.o1}/cancel/", {"reason": "stale read model"}, follow=True
    )
    html = response.content.decode()
    assert "the order pages have not caught up with it yet" in html
    assert response.redirect_chain[-1][0] == f"/admin/streams/{stream_id_for(admin_shop.o1)}/"
    assert events_of(admin_shop.o1)[-1].event_type == "OrderCancelled"


def new_order_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "customer_id": "walk-in-42",
        "currency": "EUR",
        "line1": "5 Harbour Rd",
        "city": "Lisbon",
        "postal_code": "1100",
        "country": "PT",
        "items-TOTAL_FORMS": "5",
        "items-INITIAL_FORMS": "0",
        "items-0-product_id": "kettle",
        "items-0-quantity": "2",
        "items-0-unit_price": "1234.50",
        "items-1-product_id": "mug",
        "items-1-quantity": "6",
        "items-1-unit_price": "4.00",
    }
    return {**form, **overrides}


def test_a_clerk_takes_an_order_with_two_items_through_the_command_service(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    assert 'name="items-4-product_id"' in clerk_staff.get(f"{ORDERS}new/").content.decode()

    response = clerk_staff.post(f"{ORDERS}new/", new_order_form(), follow=True)

    order = OrderView.objects.get(customer_id="walk-in-42")
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == f"{ORDERS}{order.order_id}/change/"
    assert f"Order {order.order_id} created." in html
    assert "2,493.00 EUR" in html  # 2 x 1,234.50 + 6 x 4.00, grouped, with its currency
    [created] = events_of(str(order.order_id))
    assert created.event_type == "OrderCreated"
    assert [i["product_id"] for i in created.data["items"]] == ["kettle", "mug"]
    assert created.metadata["actor"] == "clerk-staff"
    assert created.metadata["command_type"] == "CreateOrder"
    assert created.metadata["correlation_id"]


def test_the_new_order_form_refuses_what_the_api_refuses_and_appends_nothing(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    before = Event.objects.count()
    cases = {
        "An order needs at least one item.": {
            "items-0-product_id": "",
            "items-0-quantity": "",
            "items-0-unit_price": "",
            "items-1-product_id": "",
            "items-1-quantity": "",
            "items-1-unit_price": "",
        },
        "Three capital letters": {"currency": "eur"},
        "Use 1 to 64 characters": {"customer_id": "walk in"},
        "less than or equal to 10000": {"items-0-quantity": "10001"},
        "no more than 2 decimal places": {"items-1-unit_price": "4.001"},
    }
    for message, change in cases.items():
        response = clerk_staff.post(f"{ORDERS}new/", new_order_form(**change))
        assert response.status_code == 200, message
        assert message in response.content.decode(), message
    assert Event.objects.count() == before


def test_a_clerk_adds_and_removes_items_recorded_as_them(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    added = clerk_staff.post(
        f"{ORDERS}{admin_shop.o4}/add-item/",
        {"product_id": "flange", "quantity": "3", "unit_price": "1.10", "seen_version": "2"},
        follow=True,
    )
    assert f"Order {admin_shop.o4} now has the item." in added.content.decode()
    assert "flange" in added.content.decode()

    form = clerk_staff.get(f"{ORDERS}{admin_shop.o4}/remove-item/").content.decode()
    assert '<option value="doohickey">doohickey (3 x 2.50)</option>' in form
    clerk_staff.post(
        f"{ORDERS}{admin_shop.o4}/remove-item/",
        {"product_id": "doohickey", "seen_version": "3"},
    )

    view = OrderView.objects.get(order_id=admin_shop.o4)
    assert view.total_amount == Decimal("13.80")  # 10 + 0.50 + 3 x 1.10
    last_two = events_of(admin_shop.o4)[-2:]
    assert [e.event_type for e in last_two] == ["OrderItemAdded", "OrderItemRemoved"]
    assert {e.metadata["actor"] for e in last_two} == {"clerk-staff"}
    assert {e.metadata["command_type"] for e in last_two} == {"AddOrderItem", "RemoveOrderItem"}


def test_a_refusal_of_the_order_is_the_forms_error_never_a_500(
    clerk_staff: Client, admin_shop: Shop
) -> None:
    # The page was open on version 2 of order o4 while someone else added an item.
    b.add_item(admin_shop.o4, "gasket", 1, "0.10")
    stale = clerk_staff.post(
        f"{ORDERS}{admin_shop.o4}/cancel/", {"reason": "too late", "seen_version": "2"}
    )
    refusal = stale.content.decode().split('class="errornote form-refusal"')[1]
    assert "The order changed while this page was open (it is at version 3" in refusal
    assert events_of(admin_shop.o4)[-1].event_type == "OrderItemAdded"

    too_many = clerk_staff.post(
        f"{ORDERS}{admin_shop.o5}/add-item/",
        {"product_id": "sprocket", "quantity": "9995", "unit_price": "0.25"},
    )
    assert too_many.status_code == 200
    assert "A line holds at most 10000 units; sprocket has 10." in too_many.content.decode()


def test_the_cancel_button_says_what_it_does(clerk_staff: Client, admin_shop: Shop) -> None:
    html = clerk_staff.get(f"{ORDERS}{admin_shop.o1}/cancel/").content.decode()
    assert 'value="Cancel this order"' in html
    assert ">Keep the order</a>" in html
    assert 'value="Cancel"' not in html
