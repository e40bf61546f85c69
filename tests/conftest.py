"""Fixtures shared by the whole suite."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.db.backends.postgresql.operations import DatabaseOperations
from rest_framework.test import APIClient

from tests import schema


def _sql_flush_with_escape_hatch(
    self: DatabaseOperations, style: Any, tables: Any, **kw: Any
) -> list[str]:
    # Django's test runner empties tables with TRUNCATE between transactional tests; the event
    # table's trigger refuses that unless this transaction-local setting opens it (tests only).
    statements = _original_sql_flush(self, style, tables, **kw)
    if statements and "eventstore_event" in tables:
        statements.insert(0, "SET LOCAL eventstore.allow_destructive = 'on'")
    return statements


_original_sql_flush = DatabaseOperations.sql_flush
DatabaseOperations.sql_flush = _sql_flush_with_escape_hatch  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords or "celery_worker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def clerk(django_user_model: type[User]) -> User:
    """A user of the group order-clerks, without a password (hashing one is slow).

    The group and its permission are made here if missing: transactional tests flush the
    tables between tests, what the migrations created included.
    """
    group, _ = Group.objects.get_or_create(name="order-clerks")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="issue_order_commands")
    )
    user = django_user_model.objects.create_user(username="clerk")
    user.groups.add(group)
    return user


@pytest.fixture
def api(clerk: User) -> APIClient:
    """The order clerk's API client (tests of the token itself authenticate by token)."""
    client = APIClient()
    client.force_authenticate(clerk)
    return client


@pytest.fixture(autouse=True)
def answers_are_checked_against_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer an APIClient gets must be what the served OpenAPI schema documents."""
    answer = APIClient.request

    def checked(self: APIClient, **request: Any) -> Any:
        response = answer(self, **request)
        schema.check(request["REQUEST_METHOD"], request["PATH_INFO"], response)
        return response

    monkeypatch.setattr(APIClient, "request", checked)


@pytest.fixture(autouse=True)
def no_throttling(settings: Any) -> None:
    """Tests send many requests as one user from one address: throttles are off unless a test
    switches them on (common.http.throttling reads the rates per request)."""
    settings.API_THROTTLE_RATES = {"anon": None, "user": None}
