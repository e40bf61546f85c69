"""Selectors: the query handlers. They read the active generation of the read tables only."""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import Any, Final

from django.db import connection
from django.db.models import QuerySet

from common.dispatch import HandlerMap, handler_for
from orders.domain.errors import OrderNotFound
from projections.engine.generations import active_generation
from projections.read_models import queries
from projections.read_models.models import CustomerSummary, DailySales, OrderView, OrderViewItem


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _order_views(rows: list[OrderView], generation: int) -> list[dict[str, Any]]:
    items: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for item in OrderViewItem.objects.filter(
        generation=generation, order_id__in=[row.order_id for row in rows]
    ).order_by("order_id", "line_no"):
        items[item.order_id].append(
            {
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price": _money(item.unit_price),
                "line_total": _money(item.line_total),
            }
        )
    return [
        {
            "order_id": str(row.order_id),
            "customer_id": row.customer_id,
            "status": row.status,
            "currency": row.currency,
            "total_amount": _money(row.total_amount),
            "item_count": row.item_count,
            "items": items[row.order_id],
            "shipping_address": row.shipping_address,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "shipped_at": row.shipped_at,
            "cancelled_at": row.cancelled_at,
            "cancel_reason": row.cancel_reason,
            "version": row.version,
        }
        for row in rows
    ]


def order_get(query: queries.GetOrderById) -> dict[str, Any]:
    generation = active_generation("order_views")
    row = OrderView.objects.filter(generation=generation, order_id=query.order_id).first()
    if row is None:
        raise OrderNotFound(f"Order {query.order_id} does not exist.", order_id=str(query.order_id))
    return _order_views([row], generation)[0]


def _page(rows: QuerySet[OrderView], page: queries.Page, generation: int) -> dict[str, Any]:
    total = rows.count()
    start = (page.page - 1) * page.page_size
    selected = list(rows[start : start + page.page_size])
    return {
        "items": _order_views(selected, generation),
        "total": total,
        "page": page.page,
        "page_size": page.page_size,
        "total_pages": math.ceil(total / page.page_size) if total else 0,
    }


def customer_order_list(query: queries.GetCustomerOrders) -> dict[str, Any]:
    generation = active_generation("order_views")
    rows = OrderView.objects.filter(generation=generation, customer_id=query.customer_id)
    if query.status:
        rows = rows.filter(status=query.status)
    return _page(rows.order_by("-created_at", "-order_id"), query, generation)


def order_search(query: queries.SearchOrders) -> dict[str, Any]:
    generation = active_generation("order_views")
    rows = OrderView.objects.filter(generation=generation)
    if query.q:
        if connection.vendor == "postgresql":
            rows = rows.extra(  # fixed SQL; the search terms are a parameter
                where=["to_tsvector('simple', search_text) @@ plainto_tsquery('simple', %s)"],
                params=[query.q],
            )
        else:
            for term in query.q.split():
                rows = rows.filter(search_text__icontains=term)
    if query.status:
        rows = rows.filter(status=query.status)
    if query.customer_id:
        rows = rows.filter(customer_id=query.customer_id)
    if query.min_total is not None:
        rows = rows.filter(total_amount__gte=query.min_total)
    if query.max_total is not None:
        rows = rows.filter(total_amount__lte=query.max_total)
    if query.created_after is not None:
        rows = rows.filter(created_at__gte=query.created_after)
    if query.created_before is not None:
        rows = rows.filter(created_at__lt=query.created_before)
    if query.sort_by not in queries.SORT_FIELDS or query.sort_order not in ("asc", "desc"):
        raise ValueError("sort_by and sort_order are whitelisted by the API layer")
    sign = "-" if query.sort_order == "desc" else ""
    return _page(rows.order_by(f"{sign}{query.sort_by}", f"{sign}order_id"), query, generation)


def customer_summary_get(query: queries.GetCustomerSummary) -> dict[str, Any]:
    generation = active_generation("customer_summaries")
    row = CustomerSummary.objects.filter(
        generation=generation, customer_id=query.customer_id
    ).first()
    return {
        "customer_id": query.customer_id,
        "order_count": row.order_count if row else 0,
        "open_order_count": row.open_order_count if row else 0,
        "cancelled_count": row.cancelled_count if row else 0,
        "lifetime_value": _money(row.lifetime_value if row else Decimal(0)),
        "last_order_at": row.last_order_at if row else None,
    }


def daily_sales_list(query: queries.GetDailySales) -> list[dict[str, Any]]:
    rows = DailySales.objects.filter(generation=active_generation("daily_sales")).exclude(
        orders_placed=0, orders_cancelled=0, orders_shipped=0
    )
    if query.date_from is not None:
        rows = rows.filter(date__gte=query.date_from)
    if query.date_to is not None:
        rows = rows.filter(date__lte=query.date_to)
    return [
        {
            "date": row.date,
            "orders_placed": row.orders_placed,
            "orders_cancelled": row.orders_cancelled,
            "orders_shipped": row.orders_shipped,
            "gross_revenue": _money(row.gross_revenue),
            "items_sold": row.items_sold,
        }
        for row in rows.order_by("date")
    ]


SELECTORS: Final[HandlerMap[queries.Query, Any]] = {
    queries.GetOrderById: order_get,
    queries.GetCustomerOrders: customer_order_list,
    queries.SearchOrders: order_search,
    queries.GetCustomerSummary: customer_summary_get,
    queries.GetDailySales: daily_sales_list,
}


def answer(query: queries.Query) -> Any:
    """The answer to ``query`` from the selector registered for its type."""
    return handler_for(SELECTORS, query)(query)
