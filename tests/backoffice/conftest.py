"""Fixtures of the back office tests: staff users with chosen permissions, and a small shop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.test import Client

from tests.projections.conftest import (
    Clock,
    applied_table,
    celery_on_redis,
    clock,
    redis_url,
    register_projection,
)
from tests.projections.read_models.shop import Shop, build_shop

# The projection tests' fixtures.
__all__ = ["applied_table", "celery_on_redis", "clock", "redis_url", "register_projection"]

# The permissions a staff user needs to see each back office page.
VIEW_ALL = (
    "eventstore.view_event",
    "projections.view_orderview",
    "projections.view_customersummary",
    "projections.view_dailysales",
    "projections.view_projectionstate",
    "projections.view_projectionskip",
)


def permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


StaffFactory = Callable[..., Client]


@pytest.fixture(autouse=True)
def fresh_dashboard() -> None:
    """The dashboard keeps its top products a minute: each test computes its own."""
    cache.clear()


@pytest.fixture
def staff(django_user_model: type[User]) -> StaffFactory:
    """A logged-in client of a staff user holding ``perms`` (dotted names) and ``groups``."""

    def make(*perms: str, username: str = "staffer", groups: tuple[str, ...] = ()) -> Client:
        user = django_user_model.objects.create_user(username=username, is_staff=True)
        user.user_permissions.add(*(permission(p) for p in perms))
        for name in groups:
            user.groups.add(Group.objects.get(name=name))
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def boss(django_user_model: type[User]) -> Client:
    """A logged-in superuser: every permission there is."""
    user = django_user_model.objects.create_superuser(username="boss", password=None)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clerk_staff(staff: StaffFactory) -> Client:
    """Staff who may see everything and issue order commands (not repair projections)."""
    return staff(*VIEW_ALL, "orders.issue_order_commands", username="clerk-staff")


@pytest.fixture
def admin_shop(transactional_db: None, clock: Clock) -> Shop:
    """The read-model tests' shop (five orders, changed), applied by the projections.

    Committed (the test is made transactional): on PostgreSQL a projector reads only events of
    transactions that have ended, so a shop written inside the test's own transaction would
    never be applied.
    """
    return build_shop(clock, wakes=False)


def page(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()
