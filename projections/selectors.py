"""Selectors: the query handlers. They read the active generation of the read tables only."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from eventstore.store import backlog, head_position
from orders.domain.errors import OrderNotFound
from projections import base, queries
from projections.models import (
    CustomerSummary,
    DailySales,
    OrderView,
    OrderViewItem,
    ProjectionState,
    ProjectionStatus,
)
from projections.runner import active_state, checkpoint_of


def _generation(name: str) -> int:
    return active_state(name).generation


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
    generation = _generation("order_views")
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
    generation = _generation("order_views")
    rows = OrderView.objects.filter(generation=generation, customer_id=query.customer_id)
    if query.status:
        rows = rows.filter(status=query.status)
    return _page(rows.order_by("-created_at", "-order_id"), query, generation)


def order_search(query: queries.SearchOrders) -> dict[str, Any]:
    generation = _generation("order_views")
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
    generation = _generation("customer_summaries")
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
    rows = DailySales.objects.filter(generation=_generation("daily_sales")).exclude(
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


def projection_status_list(
    query: queries.GetProjectionStatus | None = None,
) -> list[dict[str, Any]]:
    head = head_position()
    now = timezone.now()
    rebuilding = set(
        ProjectionState.objects.filter(active=False)
        .exclude(status=ProjectionStatus.RETIRED)
        .values_list("name", flat=True)
    )
    result = []
    for projection in base.all_projections():
        state = active_state(projection.name)
        behind = backlog(checkpoint_of(state))
        lag_seconds = (
            (now - behind.oldest_recorded_at).total_seconds() if behind.oldest_recorded_at else 0.0
        )
        result.append(
            {
                "name": projection.name,
                "position": state.position,
                "head_position": head,
                "lag_events": behind.events,
                "lag_seconds": round(max(lag_seconds, 0.0), 3),
                "status": _status(state, behind.events, now, projection.name in rebuilding),
                "last_error": state.last_error or None,
                "updated_at": state.updated_at,
            }
        )
    return result


def _status(state: ProjectionState, lag: int, now: datetime, rebuilding: bool) -> str:
    if state.status == ProjectionStatus.FAILED:
        return "failed"
    if rebuilding:
        return "rebuilding"
    quiet = (now - state.updated_at).total_seconds()
    if state.attempts or (lag and quiet > settings.PROJECTION_STALLED_SECONDS):
        return "stalled"
    return "running"


bus = queries.QueryBus()
bus.register(queries.GetOrderById, order_get)
bus.register(queries.GetCustomerOrders, customer_order_list)
bus.register(queries.SearchOrders, order_search)
bus.register(queries.GetCustomerSummary, customer_summary_get)
bus.register(queries.GetDailySales, daily_sales_list)
bus.register(queries.GetProjectionStatus, projection_status_list)
