"""The dashboard's figures, from the read tables only: the last 30 days of sales, the best
selling products, and how far each projection is behind the log right now."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from django.db.models import Sum
from django.utils import timezone

from backoffice.charts import bar_chart
from projections.engine.generations import active_generation
from projections.engine.status import projection_status_list
from projections.read_models.models import DailySales, OrderView, OrderViewItem

DAYS: Final = 30
TOP_PRODUCTS: Final = 8


def figures(today: date | None = None) -> dict[str, Any]:
    today = today or timezone.now().date()
    first = today - timedelta(days=DAYS - 1)
    days = [first + timedelta(days=n) for n in range(DAYS)]
    rows = {
        row.date: row
        for row in DailySales.objects.filter(
            generation=active_generation("daily_sales"), date__gte=first, date__lte=today
        )
    }

    def series(column: str) -> list[tuple[str, Any]]:
        return [(day.isoformat(), getattr(rows[day], column) if day in rows else 0) for day in days]

    placed = series("orders_placed")
    cancelled = series("orders_cancelled")
    return {
        "orders": bar_chart("Orders placed", placed),
        "revenue": bar_chart(
            "Gross revenue", series("gross_revenue"), fmt=lambda v: f"{Decimal(v):,.0f}"
        ),
        "cancellations": bar_chart("Cancellations", cancelled),
        "cancel_rate": _rate(sum(v for _d, v in cancelled), sum(v for _d, v in placed)),
        "top_products": top_products(first),
        "projections": projection_status_list(),
        "since": first,
    }


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


def top_products(since: date) -> list[dict[str, Any]]:
    """The products with the most revenue on orders placed since ``since`` and not cancelled,
    each with its share of the first one's revenue (the bar's length)."""
    generation = active_generation("order_views")
    start = timezone.make_aware(datetime.combine(since, time.min))
    orders = OrderView.objects.filter(generation=generation, created_at__gte=start).exclude(
        status="cancelled"
    )
    best_sellers = (
        OrderViewItem.objects.filter(generation=generation, order_id__in=orders.values("order_id"))
        .values("product_id")
        .annotate(units=Sum("quantity"), revenue=Sum("line_total"))
        .order_by("-revenue", "product_id")[:TOP_PRODUCTS]
    )
    products: list[dict[str, Any]] = [dict(row) for row in best_sellers]
    best = products[0]["revenue"] if products else 0
    for product in products:
        product["share"] = round(100 * product["revenue"] / best) if best else 0
    return products
