"""Fixtures of the integrations' tests: a user who may manage webhooks, and their client."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient


@pytest.fixture
def webhook_manager(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user(username="integrator")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="integrations", codename="manage_webhooks")
    )
    return user


@pytest.fixture
def hooks(webhook_manager: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(webhook_manager)
    return client
