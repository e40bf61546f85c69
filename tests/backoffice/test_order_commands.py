"""Staff act on orders through the command service: recorded as them, refused without the
permission or by the order's rules, and shown once the read model has the change."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from eventstore.models import Event
from orders.repository import stream_id_for
from projections.read_models.models import OrderView
from tests.backoffice.conftest import VIEW_ALL, StaffFactory
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
    assert "A shipped order can&#x27;t be cancelled." in html
    assert 'class="error"' in html
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
    assert 'name="carrier"' in form.content.decode()

    done = clerk_staff.post(
        ORDERS,
        {"action": "ship_selected", "_selected_action": chosen, "carrier": "UPS", "apply": "1"},
        follow=True,
    )
    html = done.content.decode()
    assert "2 orders shipped." in html
    assert f"Order {admin_shop.o3}: A cancelled order can&#x27;t be shipped." in html
    assert [order_row(o).status for o in (admin_shop.o1, admin_shop.o3, admin_shop.o4)] == [
        "shipped",
        "cancelled",
        "shipped",
    ]


def test_the_page_says_so_when_the_read_model_has_not_caught_up_yet(
    clerk_staff: Client, admin_shop: Shop, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr("orders.services.wake_projections", lambda: None)
    settings.BACKOFFICE_CONSISTENCY_TIMEOUT = 0.2
    response = clerk_staff.post(
        f"{ORDERS}{admin_shop.o1}/cancel/", {"reason": "stale read model"}, follow=True
    )
    html = response.content.decode()
    assert "has not caught up with it yet" in html
    assert events_of(admin_shop.o1)[-1].event_type == "OrderCancelled"
