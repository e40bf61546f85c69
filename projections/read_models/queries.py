"""Queries of the order read models: each names the projections that feed its answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Final

SORT_FIELDS: Final = ("created_at", "total_amount", "item_count", "updated_at")
STATUSES: Final = ("pending", "shipped", "cancelled")


@dataclass(frozen=True, kw_only=True)
class Query:
    feeds: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True, kw_only=True)
class Page:
    page: int = 1
    page_size: int = 20


@dataclass(frozen=True, kw_only=True)
class GetOrderById(Query):
    feeds: ClassVar[tuple[str, ...]] = ("order_views",)
    order_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class GetCustomerOrders(Query, Page):
    feeds: ClassVar[tuple[str, ...]] = ("order_views",)
    customer_id: str
    status: str | None = None


@dataclass(frozen=True, kw_only=True)
class SearchOrders(Query, Page):
    feeds: ClassVar[tuple[str, ...]] = ("order_views",)
    q: str | None = None
    status: str | None = None
    customer_id: str | None = None
    min_total: Decimal | None = None
    max_total: Decimal | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
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
