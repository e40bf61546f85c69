"""The back office's admin pages, registered on the site when Django autodiscovers them."""

from backoffice.admin import (
    bookkeeping,
    events,
    integrations,
    orders,
    projections,
    reports,
    tokens,
)

__all__ = [
    "bookkeeping",
    "events",
    "integrations",
    "orders",
    "projections",
    "reports",
    "tokens",
]
