"""The first page of each role, from the read tables only: for those who see sales, the last 30
days of sales and the best selling products; for clerks, the way to take an order and the
orders waiting to ship; for those who see the projections, how far each is behind the log."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from backoffice.charts import bar_chart
from backoffice.display import amount_in, count, moment
from eventstore.models import Event
from projections.engine.generations import active_generation, rebuilding_state
from projections.engine.models import ProjectionSkip, ProjectionState
from projections.engine.status import projection_status_list
from projections.read_models.folding import CANCELLED, PENDING, lines_from_payload
from projections.read_models.models import DailySales, OrderView, SalesOrderFact
from projections.read_models.selectors import order_count

DAYS: Final = 30
TOP_PRODUCTS: Final = 8


def for_user(user: Any) -> dict[str, Any]:
    """What the index shows ``user``: the parts of the dashboard their role may see."""
    context: dict[str, Any] = {
        "may_take_orders": user.has_perm("orders.issue_order_commands"),
        "may_view_orders": user.has_perm("projections.view_orderview"),
    }
    if context["may_view_orders"]:
        context["pending_orders"] = order_count(active_generation("order_views"), [PENDING])
    if user.has_perm("projections.view_dailysales"):
        context["dashboard"] = figures()
    if user.has_perm("projections.view_projectionstate"):
        context["projections"] = projection_status_list()
        context["rebuilds"] = [
            progress
            for row in context["projections"]
            if (
                progress := rebuild_progress(
                    row["name"], rebuilding_state(row["name"]), row["head_position"]
                )
            )
        ]
        newest = Event.objects.order_by("-global_position").values("recorded_at").first()
        context["newest_event"] = moment(newest["recorded_at"]) if newest else "—"
    if user.has_perm("projections.view_projectionskip"):
        context["recent_skips"] = list(ProjectionSkip.objects.order_by("-skipped_at")[:5])
    return context


def rebuild_progress(name: str, target: ProjectionState | None, head: int) -> dict[str, Any] | None:
    """How far a rebuild of ``name`` (filling generation ``target``) is, if there is one."""
    if target is None:
        return None
    head = max(head, 1)
    return {
        "name": name,
        "generation": target.generation,
        "status": target.status,
        "position": target.position,
        "head": head,
        "percent": min(100, 100 * target.position // head),
        "text": (
            f"generation {target.generation}: {target.status}, "
            f"{min(100, 100 * target.position // head)}% "
            f"({count(target.position)} of {count(head)})"
        ),
    }


def figures(today: date | None = None) -> dict[str, Any]:
    today = today or timezone.now().date()
    first = today - timedelta(days=DAYS - 1)
    days = [first + timedelta(days=n) for n in range(DAYS)]
    # A day's row is the sum of its parts (one per shard of the projection).
    rows: dict[date, dict[str, Any]] = {
        row["date"]: dict(row)
        for row in DailySales.objects.filter(
            generation=active_generation("daily_sales"), date__gte=first, date__lte=today
        )
        .values("date")
        .annotate(**{c: Sum(c) for c in ("orders_placed", "orders_cancelled", "gross_revenue")})
    }

    def series(column: str) -> list[tuple[str, Any]]:
        return [(day.isoformat(), rows[day][column] if day in rows else 0) for day in days]

    placed = series("orders_placed")
    cancelled = series("orders_cancelled")
    currencies = currencies_in_use()
    revenue = bar_chart(
        "Gross revenue", series("gross_revenue"), fmt=lambda v: f"{Decimal(v):,.0f}"
    )
    return {
        "orders": bar_chart("Orders placed", placed),
        "revenue": revenue,
        "revenue_total": amount_in(revenue.sum, currencies),
        "cancellations": bar_chart("Cancellations", cancelled),
        "cancel_rate": _rate(sum(v for _d, v in cancelled), sum(v for _d, v in placed)),
        "top_products": [
            {
                **product,
                "units_text": f"{product['units']:,}",
                "revenue_text": amount_in(product["revenue"], currencies),
            }
            for product in top_products(first)
        ],
        "since": first,
    }


# A shop's currencies rarely change, and finding them reads every order view (94 ms at 200,000
# orders): a sum is labelled with a new currency within this long after its first order.
CURRENCIES_CACHE_SECONDS: Final = 600


def currencies_in_use() -> list[str]:
    """The currencies of the orders: the read models add up amounts whatever their currency,
    so a sum is labelled with the one currency, or said to mix several. Asked at most once
    every CURRENCIES_CACHE_SECONDS per generation."""
    generation = active_generation("order_views")
    key = f"backoffice:currencies:{generation}"
    found = cache.get(key)
    if found is None:
        found = sorted(
            OrderView.objects.filter(generation=generation)
            .order_by()
            .values_list("currency", flat=True)
            .distinct()
        )
        cache.set(key, found, CURRENCIES_CACHE_SECONDS)
    return list(found)


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


def top_products(since: date) -> list[dict[str, Any]]:
    """The best sellers since ``since`` (see ``best_sellers``), computed at most once every
    BACKOFFICE_DASHBOARD_CACHE_SECONDS per generation and day: they sum a month of orders, and
    the index page is the page staff open most."""
    key = f"backoffice:top-products:{active_generation('daily_sales')}:{since.isoformat()}"
    products = cache.get(key)
    if products is None:
        products = best_sellers(since)
        cache.set(key, products, settings.BACKOFFICE_DASHBOARD_CACHE_SECONDS)
    return list(products)


def best_sellers(since: date) -> list[dict[str, Any]]:
    """The products with the most revenue on orders placed since ``since`` and not cancelled,
    each with its share of the first one's revenue (the bar's length).

    Read from the daily sales projection's per-order facts (placed date, status, lines), as
    its revenue chart is: the cost follows the orders of the window, found by the facts'
    (generation, created_at) index. Summing order_view items instead read every item row
    ever written (a hash join over the whole table: 170 ms at 600,000 items, growing with
    the history, docs/benchmarks.md).
    """
    start = timezone.make_aware(datetime.combine(since, time.min))
    facts = (
        SalesOrderFact.objects.filter(
            generation=active_generation("daily_sales"), created_at__gte=start
        )
        .exclude(status=CANCELLED)
        .values_list("lines", flat=True)
    )
    units: Counter[str] = Counter()
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    for lines in facts.iterator(chunk_size=5000):
        for product_id, (quantity, price) in lines_from_payload(lines).items():
            units[product_id] += quantity
            revenue[product_id] += price * quantity
    ranked = sorted(revenue, key=lambda product_id: (-revenue[product_id], product_id))
    best = revenue[ranked[0]] if ranked else Decimal(0)
    return [
        {
            "product_id": product_id,
            "units": units[product_id],
            "revenue": revenue[product_id],
            "share": round(100 * revenue[product_id] / best) if best else 0,
        }
        for product_id in ranked[:TOP_PRODUCTS]
    ]
