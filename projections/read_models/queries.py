"""Queries of the order read models: each names the projections that feed its answer.

A query carries parameters the API has already validated (filters as a validated FilterSet).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import ClassVar, Final

from projections.read_models.filters import CustomerOrdersFilter, OrderSearchFilter

SORT_FIELDS: Final = ("created_at", "total_amount", "item_count", "updated_at")
SORT_ORDERS: Final = ("asc", "desc")


@dataclass(frozen=True, kw_only=True)
class Query:
    feeds: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True, kw_only=True)
class GetOrderById(Query):
    feeds: ClassVar[tuple[str, ...]] = ("order_views",)
    order_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class GetCustomerOrders(Query):
    feeds: ClassVar[tuple[str, ...]] = ("order_views",)
    customer_id: str
    filters: CustomerOrdersFilter


@dataclass(frozen=True, kw_only=True)
class SearchOrders(Query):
    feeds: ClassVar[tuple[str, ...]] = ("order_views",)
    filters: OrderSearchFilter
    sort_by: str = "created_at"
    sort_order: str = "desc"


@dataclass(frozen=True, kw_only=True)
class GetCustomerSummary(Query):
    feeds: ClassVar[tuple[str, ...]] = ("customer_summaries",)
    customer_id: str


@dataclass(frozen=True, kw_only=True)
class GetDailySales(Query):
    feeds: ClassVar[tuple[str, ...]] = ("daily_sales",)
    date_from: date | None = None
    date_to: date | None = None
