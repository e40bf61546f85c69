"""Selectors: the query handlers. They read the active generation of the read tables only and
return rows (model instances); the API's output serializers turn them into bodies."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from django.db.models import Count, Max, Q, QuerySet, Sum

from common.dispatch import HandlerMap, handler_for
from orders.domain.errors import OrderNotFound
from projections.engine.generations import active_generation
from projections.read_models import filters, queries, search
from projections.read_models.models import (
    CustomerSummary,
    DailySales,
    OrderStatusCount,
    OrderTermCount,
    OrderView,
    OrderViewItem,
)


def order_view_list(generation: int | None = None) -> QuerySet[OrderView]:
    """The order views of ``generation`` (by default the active one), without items (see
    ``with_items``)."""
    if generation is None:
        generation = active_generation("order_views")
    return OrderView.objects.filter(generation=generation)


@dataclass(frozen=True)
class CountedRows:
    """Ordered rows whose number is known without counting them: a page of them costs only
    its own rows (common.http.pagination takes it as it takes a queryset)."""

    rows: QuerySet[OrderView]
    total: int

    def count(self) -> int:
        return self.total

    def __getitem__(self, window: slice) -> list[OrderView]:
        return list(self.rows[window])


def order_count(generation: int, statuses: Sequence[str]) -> int:
    """How many orders of ``generation`` have one of ``statuses``: from the per-status counts
    the projection keeps with the views (projections.read_models.order_views), not a COUNT."""
    found = OrderStatusCount.objects.filter(generation=generation, status__in=statuses).aggregate(
        total=Sum("order_count")
    )["total"]
    return int(found or 0)


def word_order_count(generation: int, q: str, statuses: Sequence[str]) -> int | None:
    """How many orders of ``generation`` with one of ``statuses`` match the one-word search
    ``q``: from the counts by word the projection keeps with the views. None when they cannot
    say: ``q`` is not one word to the database's full text search (or it has none: SQLite),
    or no order of the generation ever had the word (then a COUNT finds nothing, cheaply)."""
    found = OrderTermCount.objects.filter(generation=generation, term=search.OneWord(q)).aggregate(
        total=Sum("order_count", filter=Q(status__in=statuses)), rows=Count("*")
    )
    if not found["rows"]:
        return None
    return int(found["total"] or 0)


def with_items(rows: Sequence[OrderView]) -> Sequence[OrderView]:
    """``rows`` (of one generation) with their items attached as ``row.items``, read in one
    query. (A prefetch over a two-column relation cost twice as much: docs/benchmarks.md.)"""
    if not rows:
        return rows
    items: dict[uuid.UUID, list[OrderViewItem]] = defaultdict(list)
    for item in OrderViewItem.objects.filter(
        generation=rows[0].generation, order_id__in=[row.order_id for row in rows]
    ).order_by("order_id", "line_no"):
        items[item.order_id].append(item)
    for row in rows:
        row.items = items[row.order_id]
    return rows


def order_get(query: queries.GetOrderById) -> OrderView:
    row = order_view_list().filter(order_id=query.order_id).first()
    if row is None:
        raise OrderNotFound(f"Order {query.order_id} does not exist.", order_id=str(query.order_id))
    return with_items([row])[0]


def customer_order_list(query: queries.GetCustomerOrders) -> QuerySet[OrderView]:
    rows: QuerySet[OrderView] = query.filters.filter_queryset(
        order_view_list().filter(customer_id=query.customer_id)
    )
    return rows.order_by("-created_at", "-order_id")


def order_search(query: queries.SearchOrders) -> QuerySet[OrderView] | CountedRows:
    """The matching orders in the asked order; with no filter but ``status``, or but a
    one-word ``q`` and ``status``, their number too (COUNTing a third of a million rows, or
    the 111,111 matches of a city, was most of such a search's time: docs/benchmarks.md)."""
    if query.sort_by not in queries.SORT_FIELDS or query.sort_order not in queries.SORT_ORDERS:
        raise ValueError("sort_by and sort_order are whitelisted by the API layer")
    sign = "-" if query.sort_order == "desc" else ""
    generation = active_generation("order_views")
    rows: QuerySet[OrderView] = query.filters.filter_queryset(order_view_list(generation))
    rows = rows.order_by(f"{sign}{query.sort_by}", f"{sign}order_id")
    statuses = filters.statuses_counted(query.filters)
    if statuses is not None:
        return CountedRows(rows, order_count(generation, statuses))
    word = filters.word_counted(query.filters)
    if word is not None and (total := word_order_count(generation, *word)) is not None:
        return CountedRows(rows, total)
    return rows


# The sums of a customer's summary and of a day's sales: a projection of several shards keeps
# one part of each row per shard (read_models.models, ``shard``), and a reader adds them up.
CUSTOMER_SUMS: Final = ("order_count", "open_order_count", "cancelled_count", "lifetime_value")
DAILY_SUMS: Final = (
    "orders_placed",
    "orders_cancelled",
    "orders_shipped",
    "gross_revenue",
    "items_sold",
)


def customer_summary_get(query: queries.GetCustomerSummary) -> CustomerSummary:
    generation = active_generation("customer_summaries")
    found = CustomerSummary.objects.filter(
        generation=generation, customer_id=query.customer_id
    ).aggregate(
        **{name: Sum(name) for name in CUSTOMER_SUMS},
        last_order_at=Max("last_order_at"),
        parts=Count("*"),
    )
    parts = found.pop("parts")
    return CustomerSummary(  # no orders yet (no part): all zero
        generation=generation,
        customer_id=query.customer_id,
        order_count=found["order_count"] if parts else 0,
        open_order_count=found["open_order_count"] if parts else 0,
        cancelled_count=found["cancelled_count"] if parts else 0,
        lifetime_value=found["lifetime_value"] if parts else Decimal(0),
        last_order_at=found["last_order_at"],
    )


def daily_sales_list(query: queries.GetDailySales) -> list[DailySales]:
    rows = DailySales.objects.filter(generation=active_generation("daily_sales"))
    if query.date_from is not None:
        rows = rows.filter(date__gte=query.date_from)
    if query.date_to is not None:
        rows = rows.filter(date__lte=query.date_to)
    days = (
        rows.values("date")
        .annotate(**{name: Sum(name) for name in DAILY_SUMS})
        .exclude(orders_placed=0, orders_cancelled=0, orders_shipped=0)
        .order_by("date")
    )
    return [DailySales(**day) for day in days]


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
