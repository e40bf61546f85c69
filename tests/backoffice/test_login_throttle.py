"""Admin logins are throttled (django-axes): too many failures lock a username out from an
address for a while, even with the right password afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


@pytest.fixture
def staff_with_password(django_user_model: type[User], settings: Any) -> User:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast
    return django_user_model.objects.create_user(
        username="ada", password="right horse battery", is_staff=True
    )


def log_in(client: Client, password: str) -> int:
    response = client.post(LOGIN, {"username": "ada", "password": password, "next": "/admin/"})
    return response.status_code


def test_too_many_failed_logins_lock_the_username_out_from_that_address(
    staff_with_password: User, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert [log_in(client, "wrong") for _ in range(2)] == [200, 200]  # the form, again
    assert log_in(client, "wrong") == 429
    locked = client.post(LOGIN, {"username": "ada", "password": "right horse battery"})
    assert locked.status_code == 429
    assert "Too many failed logins for ada" in locked.content.decode()

    elsewhere = Client(REMOTE_ADDR="198.51.100.9")
    assert log_in(elsewhere, "right horse battery") == 302  # another address is not locked


def test_a_successful_login_clears_the_failures(staff_with_password: User, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="203.0.113.8")
    assert [log_in(client, "wrong") for _ in range(2)] == [200, 200]
    assert log_in(client, "right horse battery") == 302
    client.logout()
    assert [log_in(client, "wrong") for _ in range(2)] == [200, 200]


def test_behind_a_proxy_the_forwarded_client_is_locked_out_not_the_proxy(
    staff_with_password: User, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    settings.LOGIN_THROTTLE_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    attacker = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.50")
    colleague = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert [log_in(attacker, "wrong") for _ in range(2)] == [200, 429]
    assert log_in(colleague, "right horse battery") == 302


def test_one_wrong_password_for_each_of_many_usernames_locks_the_address_out(
    staff_with_password: User, settings: Any
) -> None:
    """30 usernames, one wrong password each, from one address: the address' own limit
    (LOGIN_FAILURES_PER_ADDRESS, default 20) locks it out, the right password too."""
    assert settings.LOGIN_FAILURES_PER_ADDRESS == 20
    attacker = Client(REMOTE_ADDR="203.0.113.99")
    codes = [
        attacker.post(LOGIN, {"username": f"user-{n}", "password": "wrong"}).status_code
        for n in range(30)
    ]
    assert codes == [200] * 19 + [429] * 11
    assert log_in(attacker, "right horse battery") == 429

    elsewhere = Client(REMOTE_ADDR="198.51.100.10")
    assert log_in(elsewhere, "right horse battery") == 302
