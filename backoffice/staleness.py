"""Whether the figures staff see are out of date: a projection that has failed, or is further
behind the log than BACKOFFICE_STALE_AFTER_SECONDS, makes the pages it feeds stale.

Every staff page shows a banner at its top while one is (templates/admin/base_site.html): what
is stale in the business's words, since when, and for those who may see the projections a link
to them. Read from the engine's status (projections.engine.status, what /api/projections
answers), kept a few seconds per process: it is asked on every page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from integrations.status import follower_status_list
from projections.engine.status import projection_status_list

# What staff see of each projection: the pages that show its figures.
PAGES_FED: Final = {
    "order_views": "Orders (the order list, searches and order pages)",
    "customer_summaries": "Customers",
    "daily_sales": "Daily sales and the dashboard's figures",
}

# Long enough that a page view costs no status query most of the time, short enough that the
# banner comes and goes within a reload or two.
CACHE_SECONDS: Final = 3
CACHE_KEY: Final = "backoffice:stale-projections"
FOLLOWERS_CACHE_KEY: Final = "backoffice:troubled-followers"


@dataclass(frozen=True)
class Stale:
    """One projection whose pages are out of date."""

    projection: str
    pages: str
    # The time of the oldest event its pages do not show yet: they are as of just before it.
    since: datetime
    failed: bool
    # The failure as the engine recorded it (shown to those who may see the projections).
    error: str


def stale_projections() -> list[Stale]:
    """The projections whose pages are out of date now (computed at most every few seconds)."""
    found: list[Stale] | None = cache.get(CACHE_KEY)
    if found is None:
        found = _compute()
        cache.set(CACHE_KEY, found, CACHE_SECONDS)
    return found


def forget() -> None:
    """Look again on the next page (after an operator's repair, so its page tells the truth)."""
    cache.delete_many([CACHE_KEY, FOLLOWERS_CACHE_KEY])


@dataclass(frozen=True)
class Troubled:
    """A webhook or subscriber whose events are not getting through: failing (retried with
    backoff), disabled (stopped until enabled), stopped at an event that fails, or further
    behind than BACKOFFICE_STALE_AFTER_SECONDS."""

    kind: str
    name: str
    description: str
    status: str
    since: datetime | None
    error: str
    admin_url: str


def troubled_followers() -> list[Troubled]:
    """The webhooks and subscribers in trouble now (computed at most every few seconds)."""
    found: list[Troubled] | None = cache.get(FOLLOWERS_CACHE_KEY)
    if found is None:
        found = _troubled()
        cache.set(FOLLOWERS_CACHE_KEY, found, CACHE_SECONDS)
    return found


def _troubled() -> list[Troubled]:
    now = timezone.now()
    limit = settings.BACKOFFICE_STALE_AFTER_SECONDS
    found = []
    for row in follower_status_list():
        behind = row.lag_seconds > limit and row.status not in ("disabled",)
        if not row.in_trouble and not behind:
            continue
        page = "integrations_webhook" if row.kind == "webhook" else "integrations_subscriberstate"
        found.append(
            Troubled(
                kind=row.kind,
                name=row.name,
                description=row.description,
                status=row.status if row.in_trouble else "behind",
                since=row.failing_since or now - timedelta(seconds=row.lag_seconds),
                error=row.last_error,
                admin_url=reverse(f"admin:{page}_changelist"),
            )
        )
    return found


def _compute() -> list[Stale]:
    now = timezone.now()
    limit = settings.BACKOFFICE_STALE_AFTER_SECONDS
    found = []
    for row in projection_status_list():
        failed = row["status"] == "failed"
        lag = float(row["lag_seconds"])
        if not failed and lag <= limit:
            continue
        found.append(
            Stale(
                projection=row["name"],
                pages=PAGES_FED.get(row["name"], row["name"]),
                since=now - timedelta(seconds=lag),
                failed=failed,
                error=row["last_error"] or "",
            )
        )
    return found
