"""Customers and daily sales in the back office: read-only, searchable, linked to the orders."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from common.admin import ReadOnlyAdmin
from projections.engine.generations import active_generation
from projections.read_models.models import CustomerSummary, DailySales


class CustomerFilter(admin.SimpleListFilter):
    title = "orders"
    parameter_name = "has"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "with open orders"), ("cancelled", "with cancellations")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[CustomerSummary]
    ) -> QuerySet[CustomerSummary]:
        if self.value() == "open":
            return queryset.filter(open_order_count__gt=0)
        if self.value() == "cancelled":
            return queryset.filter(cancelled_count__gt=0)
        return queryset


@admin.register(CustomerSummary)
class CustomerSummaryAdmin(ReadOnlyAdmin):
    list_display = (
        "customer_id",
        "orders",
        "open_order_count",
        "cancelled_count",
        "lifetime_value",
        "last_order_at",
    )
    list_filter = (CustomerFilter,)
    search_fields = ("=customer_id",)  # the (generation, customer_id) unique index
    search_help_text = "A customer id, exactly."
    ordering = ("customer_id",)
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerSummary]:
        generation = active_generation("customer_summaries")
        return super().get_queryset(request).filter(generation=generation)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[CustomerSummary], search_term: str
    ) -> tuple[QuerySet[CustomerSummary], bool]:
        term = search_term.strip()  # equality, not Django's UPPER(...) = UPPER(...) scan
        return (queryset.filter(customer_id=term) if term else queryset), False

    @admin.display(description="orders", ordering="order_count")
    def orders(self, summary: CustomerSummary) -> SafeString:
        url = reverse("admin:projections_orderview_changelist")
        return format_html(
            '<a href="{}?customer_id={}">{} orders</a>',
            url,
            summary.customer_id,
            summary.order_count,
        )


@admin.register(DailySales)
class DailySalesAdmin(ReadOnlyAdmin):
    list_display = (
        "date",
        "orders_placed",
        "orders_shipped",
        "orders_cancelled",
        "items_sold",
        "gross_revenue",
    )
    list_filter = (("date", admin.DateFieldListFilter),)
    date_hierarchy = "date"
    ordering = ("-date",)
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request: HttpRequest) -> QuerySet[DailySales]:
        return super().get_queryset(request).filter(generation=active_generation("daily_sales"))
