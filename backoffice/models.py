"""The back office's one model: API tokens as staff see them, never showing a key.

DRF's admin page for tokens (``TokenProxy``) lists every key, and its objects print as their
key (``str(token)``) in titles, breadcrumbs, confirmation pages and the admin's own log. This
proxy prints as its owner and a masked key, so no page or log entry can show a key by way of
the object; the pages that show a key on purpose (a token just created, a user's own) are in
backoffice.admin.tokens.
"""

from __future__ import annotations

from typing import Final

from rest_framework.authtoken.models import TokenProxy

SHOWN_CHARACTERS: Final = 4


def masked(key: str) -> str:
    """A key as the lists show it: enough to tell two tokens apart, nothing to log in with."""
    return f"{key[:SHOWN_CHARACTERS]}{'•' * 8}" if key else "—"


class ApiToken(TokenProxy):
    """A user's API token (its primary key in URLs is the user id, as with DRF's proxy)."""

    class Meta:
        proxy = True
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    def __str__(self) -> str:
        return f"API token of {self.user} ({masked(self.key)})"
