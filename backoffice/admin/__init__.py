"""The back office's admin pages, registered on the site when Django autodiscovers them."""

from backoffice.admin import bookkeeping, events, orders, projections, reports, tokens

__all__ = ["bookkeeping", "events", "orders", "projections", "reports", "tokens"]
