"""API throttles whose rates are read from settings.API_THROTTLE_RATES when a request comes,
and the throttle on failed token authentications per client address.

DRF's own throttles copy their rates once, at import; reading them per request lets tests (and
a settings change) switch throttling on and off. A rate of None switches a throttle off.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from rest_framework import throttling
from rest_framework.request import Request

from common.http.clients import client_address


class _RatesFromSettings(throttling.SimpleRateThrottle):
    def get_rate(self) -> str | None:
        rates: dict[str, str | None] = settings.API_THROTTLE_RATES
        return rates.get(self.scope or "")


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Anonymous requests, per client address."""

    def get_ident(self, request: Request) -> str:
        return client_address(request._request)  # the trusted proxies' count, not any header


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Authenticated requests, per user."""

    def get_ident(self, request: Request) -> str:
        return client_address(request._request)


class FailedAuthentications(_RatesFromSettings):
    """Failed token authentications per client address (rate ``auth_failures``).

    Unlike a request throttle, only failures count, and once an address has failed too often
    *every* token it sends is refused until the oldest failure is out of the window: if a good
    key were still let through, refusals would tell a guesser nothing and the guessing would go
    on at full speed. The counts live in Django's cache, like DRF's throttles' (per process
    unless a shared cache is configured).
    """

    scope = "auth_failures"
    cache = cache
    # Set by SimpleRateThrottle.__init__ from the rate (used only when there is one).
    num_requests: int
    duration: int

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.key = self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def get_ident(self, request: Request) -> str:
        return client_address(request._request)

    def get_cache_key(self, request: Request, view: object) -> str | None:
        return self.key

    def wait_before_trying(self) -> float | None:
        """Seconds until this address may send a token again, or None if it may now."""
        if self.rate is None:
            return None
        self.now = self.timer()
        self.history = [
            moment for moment in self.cache.get(self.key, []) if moment > self.now - self.duration
        ]
        if len(self.history) < self.num_requests:
            return None
        return float(self.wait() or 0.0)

    def record_failure(self) -> None:
        if self.rate is None:
            return
        self.wait_before_trying()  # the history, as of now
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
