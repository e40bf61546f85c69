"""Projections and read models in the admin: read-only tables, repair through the runner."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin_base import ReadOnlyAdmin
from projections import runner
from projections.models import (
    CustomerSummary,
    DailySales,
    OrderView,
    ProjectionSkip,
    ProjectionState,
)


@admin.register(ProjectionState)
class ProjectionStateAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "generation",
        "active",
        "status",
        "position",
        "events_applied",
        "attempts",
        "error_position",
        "updated_at",
    )
    readonly_fields = ("last_error",)
    actions = ("retry_failed",)

    @admin.action(description="Retry the failing event")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[ProjectionState]) -> None:
        for state in queryset:
            try:
                runner.retry(state.name)
                runner.run(state.name, generation=state.generation)
            except runner.ProjectionError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"{state.name}: retried.")


@admin.register(ProjectionSkip)
class ProjectionSkipAdmin(ReadOnlyAdmin):
    list_display = ("name", "position", "event_type", "actor", "reason", "skipped_at")


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
