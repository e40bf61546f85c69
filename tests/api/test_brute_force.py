"""Guessing API tokens is throttled per client address: past API_THROTTLE_AUTH_FAILURES failed
authentications, every token from that address gets 429 ``throttled`` with Retry-After (a good
one too, or refusals would tell a guesser nothing) until the oldest failure leaves the window."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import config.settings as configured

pytestmark = pytest.mark.django_db

READ = "/api/projections"
ATTACKER, COLLEAGUE = "203.0.113.66", "198.51.100.7"


@pytest.fixture(autouse=True)
def fresh_counts() -> None:
    cache.clear()  # the throttles count in Django's cache


@pytest.fixture
def token(clerk: User) -> Token:
    return Token.objects.create(user=clerk)


def with_token(key: str, address: str) -> Any:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(READ)


def throttle_failures(settings: Any, rate: str | None) -> None:
    settings.API_THROTTLE_RATES = {"anon": None, "user": None, "auth_failures": rate}


def test_bad_tokens_from_one_address_are_throttled_then_every_token_from_it(
    settings: Any, token: Token
) -> None:
    throttle_failures(settings, "5/minute")

    answers = [with_token(f"guess{n:035d}", ATTACKER) for n in range(7)]

    assert [a.status_code for a in answers] == [401] * 5 + [429] * 2
    refused = answers[-1].json()["error"]
    assert refused["code"] == "throttled"
    assert "Too many failed authentications from this address" in refused["message"]
    assert 0 < int(answers[-1]["Retry-After"]) <= 60
    # The right key from that address is refused too: a guess that hits must look the same.
    assert with_token(token.key, ATTACKER).status_code == 429
    # Another address is not held back, with a good token or a bad one.
    assert with_token(token.key, COLLEAGUE).status_code == 200
    assert with_token("not-a-token", COLLEAGUE).status_code == 401


def test_malformed_authorization_headers_count_as_failures(settings: Any) -> None:
    throttle_failures(settings, "3/minute")
    client = APIClient(REMOTE_ADDR=ATTACKER)
    for header in ("Token", "Token a b", "Token \x01bad", "Token " + "x" * 41):
        client.credentials(HTTP_AUTHORIZATION=header)
        client.get(READ)
    assert with_token("another-guess", ATTACKER).status_code == 429


def test_good_tokens_and_requests_without_one_count_nothing(settings: Any, token: Token) -> None:
    throttle_failures(settings, "3/minute")
    assert {with_token(token.key, ATTACKER).status_code for _ in range(10)} == {200}
    assert {APIClient(REMOTE_ADDR=ATTACKER).get(READ).status_code for _ in range(10)} == {401}
    assert [with_token("guess", ATTACKER).status_code for _ in range(4)] == [401] * 3 + [429]


def test_the_default_rate_stops_a_burst_of_guesses(settings: Any) -> None:
    """300 guesses in a burst (1.7 s of them were all 401 before): the default lets 20 through."""
    default = configured.API_THROTTLE_RATES["auth_failures"]
    assert default == "20/minute"
    throttle_failures(settings, default)

    codes = [with_token(f"guess-{n}", ATTACKER).status_code for n in range(300)]

    assert codes.count(401) == 20
    assert codes.count(429) == 280


def test_behind_a_proxy_the_forwarded_client_is_counted_not_the_proxy(
    settings: Any, token: Token
) -> None:
    throttle_failures(settings, "2/minute")
    settings.LOGIN_THROTTLE_PROXY_COUNT = 1
    proxy = "10.0.0.2"

    def through_proxy(key: str, client_address: str) -> int:
        client = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {client_address}")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client.get(READ).status_code

    assert [through_proxy("guess", ATTACKER) for _ in range(3)] == [401, 401, 429]
    assert through_proxy(token.key, COLLEAGUE) == 200
