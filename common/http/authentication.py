"""Token authentication that refuses a malformed key before it reaches the database."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

MAX_KEY_LENGTH = 40  # rest_framework.authtoken's key column


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication; a key that no token can have (a NUL byte, too long) is an
    invalid token (401), not a database error."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
