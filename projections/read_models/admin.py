"""The order read models in the admin: read-only tables."""

from __future__ import annotations

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from projections.read_models.models import CustomerSummary, DailySales, OrderView


@admin.register(OrderView)
class OrderViewAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "customer_id", "status", "total_amount", "item_count", "created_at")
    list_filter = ("status", "generation")
    search_fields = ("=order_id", "=customer_id")


@admin.register(CustomerSummary)
class CustomerSummaryAdmin(ReadOnlyAdmin):
    list_display = ("customer_id", "order_count", "open_order_count", "lifetime_value")
    search_fields = ("=customer_id",)


@admin.register(DailySales)
class DailySalesAdmin(ReadOnlyAdmin):
    list_display = ("date", "orders_placed", "orders_shipped", "orders_cancelled", "gross_revenue")
