"""Token authentication that refuses a malformed key before it reaches the database, and
refuses every token from an address that has sent too many bad ones (429)."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from common.http.throttling import FailedAuthentications

MAX_KEY_LENGTH = 40  # rest_framework.authtoken's key column


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication; a key that no token can have (a NUL byte, too long) is an
    invalid token (401), not a database error. Failures are counted per client address
    (API_THROTTLE_AUTH_FAILURES): past the limit the address gets 429 ``throttled`` with
    Retry-After for any token, good or bad, until its oldest failure is out of the window."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if not self._sends_a_token(request):
            return None  # no token: other authentication classes, or anonymous
        failures = FailedAuthentications(request)
        wait = failures.wait_before_trying()
        if wait is not None:
            raise exceptions.Throttled(
                wait, detail="Too many failed authentications from this address."
            )
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            failures.record_failure()
            raise

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)

    def _sends_a_token(self, request: Request) -> bool:
        header = authentication.get_authorization_header(request).split()
        return bool(header) and header[0].lower() == self.keyword.lower().encode()
