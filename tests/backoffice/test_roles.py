"""The three staff roles, made by a data migration: each sees its work on its first page, its
sections and nothing more, and only clerks act on orders."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.test import Client

from backoffice.roles import ROLES, ensure_roles
from tests.projections.read_models.shop import Shop

ORDERS = "/admin/projections/orderview/"
SECTIONS = re.compile(r'class="section-name" href="/admin/section/([a-z-]+)/"')


def sections_of(html: str) -> list[str]:
    return SECTIONS.findall(html)


@pytest.fixture
def as_role(django_user_model: type[User]) -> Any:
    """A logged-in client of a staff member holding one role (its group only)."""

    def make(group: str) -> Client:
        ensure_roles(apps)  # transactional tests empty the tables the migration filled
        user = django_user_model.objects.create_user(username=f"{group}-member", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.mark.django_db
def test_the_migration_made_the_three_roles_with_their_permissions() -> None:
    for name, permissions in ROLES.items():
        group = Group.objects.get(name=name)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert set(permissions) <= held, name
    clerks = Group.objects.get(name="order-clerks").permissions.values_list("codename", flat=True)
    assert "issue_order_commands" in clerks
    assert "view_event" not in clerks  # an order's own timeline, not the whole log
    support = Group.objects.get(name="support").permissions.values_list("codename", flat=True)
    assert "issue_order_commands" not in support
    assert "operate_projections" not in support
    # Support forgets customers who ask to be (their personal data erased); nothing else.
    assert not [c for c in support if not c.startswith("view_") and c != "forget_customers"]


@pytest.mark.django_db
def test_a_clerks_first_page_is_their_work_not_an_empty_index(
    as_role: Any, admin_shop: Shop
) -> None:
    html = as_role("order-clerks").get("/admin/").content.decode()
    assert "have permission to view or edit anything" not in html
    assert 'href="/admin/projections/orderview/new/"' in html  # take an order
    assert "3 orders waiting to ship" in html
    assert html.count('<svg class="chart') == 3
    assert sections_of(html) == ["orders"]
    assert "projections now" not in html  # the engine's words stay under Operations


@pytest.mark.django_db
def test_each_role_sees_its_sections_and_only_its_pages(as_role: Any, admin_shop: Shop) -> None:
    clerk, support, operator = (
        as_role("order-clerks"),
        as_role("support"),
        as_role("projection-operators"),
    )
    assert sections_of(support.get("/admin/").content.decode()) == [
        "orders",
        "event-log",
        "operations",
    ]
    operations = operator.get("/admin/").content.decode()
    assert sections_of(operations) == ["event-log", "operations"]
    assert "Operations: projections now" in operations

    for url in (ORDERS, "/admin/projections/customersummary/", "/admin/projections/dailysales/"):
        assert clerk.get(url).status_code == 200
        assert support.get(url).status_code == 200
        assert operator.get(url).status_code == 403
    for url in (
        "/admin/eventstore/event/",
        "/admin/streams/",
        "/admin/projections/projectionstate/",
        "/admin/projections/projectionskip/",
        "/admin/orders/idempotencyrecord/",
    ):
        assert clerk.get(url).status_code == 403
        assert support.get(url).status_code == 200
        assert operator.get(url).status_code == 200
    assert support.get("/admin/backoffice/apitoken/").status_code == 200
    assert clerk.get("/admin/backoffice/apitoken/").status_code == 403


@pytest.mark.django_db
def test_the_orders_section_holds_orders_customers_and_daily_sales_in_business_words(
    as_role: Any, admin_shop: Shop
) -> None:
    support = as_role("support")
    section = support.get("/admin/section/orders/").content.decode()
    assert re.findall(
        r'<th scope="row" id="orders-[a-z]+">\s*<a href="[^"]+">([^<]+)</a>', section
    ) == [
        "Orders",
        "Customers",
        "Daily sales",
    ]
    order = support.get(f"{ORDERS}{admin_shop.o4}/change/").content.decode()
    for word in ("Generation", "generation", "Read model", "read model", "Order view"):
        assert word not in order, word
    assert '<a href="/admin/section/orders/">Orders</a>' in order  # its breadcrumbs


@pytest.mark.django_db(transaction=True)
def test_support_sees_the_order_pages_and_every_command_is_refused(
    as_role: Any, admin_shop: Shop
) -> None:
    from eventstore.models import Event

    support = as_role("support")
    before = Event.objects.count()
    page = support.get(f"{ORDERS}{admin_shop.o1}/change/").content.decode()
    assert "tool-cancel" not in page
    assert "Take an order" not in support.get(ORDERS).content.decode()
    for name, data in (
        ("ship", {"carrier": "UPS"}),
        ("cancel", {"reason": "no"}),
        ("address", {"line1": "x", "city": "y", "postal_code": "1", "country": "US"}),
        ("add-item", {"product_id": "p", "quantity": 1, "unit_price": "1.00"}),
        ("remove-item", {"product_id": "widget"}),
    ):
        url = f"{ORDERS}{admin_shop.o1}/{name}/"
        for response in (support.get(url), support.post(url, data)):
            assert response.status_code == 403, name
            assert "Your role may not" in response.content.decode()
    assert support.get(f"{ORDERS}new/").status_code == 403
    assert support.post(f"{ORDERS}new/", {"customer_id": "x"}).status_code == 403
    support.post(ORDERS, {"action": "ship_selected", "_selected_action": [1], "apply": "1"})
    assert Event.objects.count() == before
