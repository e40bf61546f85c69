"""Admin login throttling (django-axes), per username and address and per address alone.

Axes locks a (username, address) pair out after AXES_FAILURE_LIMIT failures: a username alone
would let anyone lock a colleague out. That leaves one address free to try one password on
each of many usernames; here an address with LOGIN_FAILURES_PER_ADDRESS failures in the
cool-off window, whatever the usernames, is locked out as well.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class PerAddressLimitHandler(AxesDatabaseHandler):  # type: ignore[misc]
    """Axes' database handler, with the address' own limit on top of the pair's."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        pair = int(super().get_failures(request, credentials))
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)  # type: ignore[attr-defined]
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        from_address = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
        if from_address >= settings.LOGIN_FAILURES_PER_ADDRESS:
            # Counted as the pair's limit reached: axes then locks out and refuses as it does
            # for a pair.
            return max(pair, int(get_failure_limit(request, credentials)))
        return pair
