"""API throttles whose rates are read from settings.API_THROTTLE_RATES when a request comes.

DRF's own throttles copy their rates once, at import; reading them per request lets tests (and
a settings change) switch throttling on and off. A rate of None switches a throttle off.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import throttling


class _RatesFromSettings(throttling.SimpleRateThrottle):
    def get_rate(self) -> str | None:
        rates: dict[str, str | None] = settings.API_THROTTLE_RATES
        return rates.get(self.scope or "")


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Anonymous requests, per client address."""


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Authenticated requests, per user."""
