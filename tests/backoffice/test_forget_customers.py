"""Support forgets a customer from the customers page: a confirmation page names who and asks
why; the forget is recorded as the staff member; without the permission there is no action."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client

from backoffice.roles import ensure_roles
from eventstore.models import Event, PersonalKey
from orders.customers import CUSTOMER_FORGOTTEN
from projections.models import CustomerSummary
from projections.read_models.models import OrderView
from tests.backoffice.conftest import VIEW_ALL, StaffFactory
from tests.projections import builders as b
from tests.projections.read_models.shop import Shop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

CUSTOMERS = "/admin/projections/customersummary/"


def chosen(*customers: str) -> list[int]:
    return list(
        CustomerSummary.objects.filter(customer_id__in=customers).values_list("pk", flat=True)
    )


def test_support_forgets_a_customer_after_confirming_who_and_why(
    staff: StaffFactory, admin_shop: Shop
) -> None:
    ensure_roles(apps)  # a transactional test emptied the groups
    support = staff(username="sam", groups=("support",))
    listing = support.get(CUSTOMERS).content.decode()
    assert "Forget selected customers (erase their personal data)" in listing

    asked = support.post(
        CUSTOMERS, {"action": "forget_selected", "_selected_action": chosen("bob")}
    )
    assert asked.status_code == 200
    page = asked.content.decode()
    assert 'name="reason"' in page
    assert "bob · 2 orders" in page
    assert "Recorded as forgotten by sam" in page
    assert "can&#x27;t be undone" in page
    assert not PersonalKey.objects.filter(forgotten_at__isnull=False).exists()

    done = support.post(
        CUSTOMERS,
        {
            "action": "forget_selected",
            "_selected_action": chosen("bob"),
            "reason": "Asked by phone, ticket 5521",
            "apply": "1",
        },
        follow=True,
    )
    assert "Customer bob forgotten" in done.content.decode()
    recorded = Event.objects.get(event_type=CUSTOMER_FORGOTTEN)
    assert recorded.data["customer_id"] == "bob"
    assert recorded.data["reason"] == "Asked by phone, ticket 5521"
    assert recorded.metadata["actor"] == "sam"
    for row in OrderView.objects.filter(customer_id="bob"):
        assert row.shipping_address["city"] == "[erased]"
    assert OrderView.objects.get(order_id=admin_shop.o1).shipping_address["city"] == "Springfield"
    html = support.get(f"/admin/projections/orderview/{admin_shop.o5}/change/").content.decode()
    assert "Capital City" not in html and "North Haverbrook" not in html and "[erased]" in html

    again = support.post(
        CUSTOMERS,
        {
            "action": "forget_selected",
            "_selected_action": chosen("bob"),
            "reason": "again",
            "apply": "1",
        },
        follow=True,
    )
    assert "Customer bob was forgotten already" in again.content.decode()
    assert Event.objects.filter(event_type=CUSTOMER_FORGOTTEN).count() == 1


def test_a_forget_needs_a_reason(staff: StaffFactory, admin_shop: Shop) -> None:
    ensure_roles(apps)
    support = staff(username="sam", groups=("support",))
    response = support.post(
        CUSTOMERS,
        {
            "action": "forget_selected",
            "_selected_action": chosen("bob"),
            "reason": " ",
            "apply": "1",
        },
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Event.objects.filter(event_type=CUSTOMER_FORGOTTEN).exists()


def test_staff_without_the_permission_have_no_forget_action(
    staff: StaffFactory, clerk_staff: Client, admin_shop: Shop
) -> None:
    for client in (staff(*VIEW_ALL, username="viewer"), clerk_staff):
        assert "Forget selected customers" not in client.get(CUSTOMERS).content.decode()
        client.post(
            CUSTOMERS,
            {
                "action": "forget_selected",
                "_selected_action": chosen("bob"),
                "reason": "no",
                "apply": "1",
            },
        )
    assert not Event.objects.filter(event_type=CUSTOMER_FORGOTTEN).exists()
    b.catch_up_until_applied()
    assert OrderView.objects.get(order_id=admin_shop.o2).shipping_address["city"] == "Shelbyville"
