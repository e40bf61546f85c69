"""Customers and daily sales in the back office: read-only, searchable, linked to the orders;
amounts with their currency, daily sales with a chart and the totals of what the filter shows;
one row per customer and per day however many shards the projection runs as."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final, Generic, TypeVar

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Count, Max, Min, Model, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from backoffice.charts import bar_chart
from backoffice.dashboard import currencies_in_use
from backoffice.display import amount_in, count, moment
from backoffice.forms import ForgetCustomersForm, action_form
from common.admin import ReadOnlyAdmin
from common.waits import wait_for_read_models
from orders.customers import forget_customer
from projections.engine.generations import active_generation, active_state
from projections.read_models.models import CustomerSummary, DailySales, OrderView
from projections.read_models.selectors import CUSTOMER_SUMS, DAILY_SUMS

# The daily sales chart shows at most this many days (the latest the filter keeps).
CHART_DAYS: Final = 90


Row = TypeVar("Row", bound=Model)


class PartsAdmin(ReadOnlyAdmin, Generic[Row]):
    """A read table that a projection of several shards keeps in parts, one per shard and key
    (read_models.models, ``shard``; docs/scaling.md, "Shards"). Staff see one row per key with
    its parts added up, so that the list, its filters, ordering and pages, the detail page and
    the actions see keys, not parts.

    With one shard a key has one part: the list is the plain query, by the table's indexes.
    With several, the rows are grouped by key, each sum under its column's name (so a filter
    or an ordering by a column reads the sum), and ``pk`` names the key's first part: the
    row's link, its action checkbox and Django's ``filter(pk__in=...)`` of the chosen rows all
    go through that one name. Grouped rows come as dicts; ``as_row`` makes them models.
    """

    model: type[Row]
    projection: ClassVar[str]
    key: ClassVar[str]
    sums: ClassVar[tuple[str, ...]]
    latest: ClassVar[tuple[str, ...]] = ()  # kept by maximum, not added up
    exclude = ("shard",)  # which part a row is, not what staff read

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        state = active_state(self.projection)
        rows: QuerySet[Row] = super().get_queryset(request).filter(generation=state.generation)
        if state.shards == 1:
            return rows
        return rows.values("generation", self.key).annotate(
            pk=Min("pk"),
            **{name: Sum(name) for name in self.sums},
            **{name: Max(name) for name in self.latest},
        )

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Row | None:
        # By ``pk``, not (as Django's) by the primary key's name: grouped, that names one
        # part. ``from_field`` can only be the primary key (no model refers to these tables,
        # and the admin refuses any other field before this).
        try:
            row = self.get_queryset(request).get(pk=self.model._meta.pk.to_python(object_id))
        except (ObjectDoesNotExist, ValidationError, ValueError):
            return None
        return self.as_row(row)

    def as_row(self, row: Row | dict[str, Any]) -> Row:
        """``row`` as a model: a key's grouped parts (not saved, ``pk`` its first part's)."""
        return self.model(**row) if isinstance(row, dict) else row


class PartsChangeList(ChangeList):
    """The list of a PartsAdmin: its rows as models, grouped or not."""

    model_admin: PartsAdmin[Any]

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = [self.model_admin.as_row(row) for row in self.result_list]


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


class CustomerChangeList(PartsChangeList):
    """Each customer of the page carries the currencies of their orders (one query for the
    page, by the order views' customer index), for their lifetime value."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        ids = [row.customer_id for row in self.result_list]
        found: defaultdict[str, set[str]] = defaultdict(set)
        rows = (
            OrderView.objects.filter(
                generation=active_generation("order_views"), customer_id__in=ids
            )
            .order_by()
            .values_list("customer_id", "currency")
            .distinct()
        )
        for customer_id, currency in rows:
            found[customer_id].add(currency)
        for row in self.result_list:
            row.currencies = found[row.customer_id]


@admin.register(CustomerSummary)
class CustomerSummaryAdmin(PartsAdmin[CustomerSummary]):
    projection = "customer_summaries"
    key = "customer_id"
    sums = CUSTOMER_SUMS
    latest = ("last_order_at",)
    list_display = (
        "customer_id",
        "orders",
        "open_orders",
        "cancelled",
        "lifetime_value_text",
        "last_order",
    )
    list_filter = (CustomerFilter,)
    search_fields = ("=customer_id",)  # the (generation, customer_id) unique index
    search_help_text = "A customer id, exactly."
    ordering = ("customer_id",)
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    actions = ("forget_selected",)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return CustomerChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[CustomerSummary], search_term: str
    ) -> tuple[QuerySet[CustomerSummary], bool]:
        term = search_term.strip()  # equality, not Django's UPPER(...) = UPPER(...) scan
        return (queryset.filter(customer_id=term) if term else queryset), False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"title": "Customers", "module_name": "customers", **(extra_context or {})}
        return super().changelist_view(request, context)

    @admin.display(description="orders", ordering="order_count")
    def orders(self, summary: CustomerSummary) -> SafeString:
        url = reverse("admin:projections_orderview_changelist")
        return format_html(
            '<a href="{}?customer_id={}">{} orders</a>',
            url,
            summary.customer_id,
            count(summary.order_count),
        )

    @admin.display(description="open orders", ordering="open_order_count")
    def open_orders(self, summary: CustomerSummary) -> str:
        return count(summary.open_order_count)

    @admin.display(description="cancelled", ordering="cancelled_count")
    def cancelled(self, summary: CustomerSummary) -> str:
        return count(summary.cancelled_count)

    @admin.display(description="lifetime value", ordering="lifetime_value")
    def lifetime_value_text(self, summary: CustomerSummary) -> str:
        return amount_in(summary.lifetime_value, getattr(summary, "currencies", ()))

    @admin.display(description="last order", ordering="last_order_at")
    def last_order(self, summary: CustomerSummary) -> str:
        return moment(summary.last_order_at)

    # --- forgetting customers (their personal data erased: orders.customers) --------------
    def has_forget_customers_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.forget_customers")

    @admin.action(
        description="Forget selected customers (erase their personal data)",
        permissions=["forget_customers"],
    )
    def forget_selected(
        self, request: HttpRequest, queryset: QuerySet[CustomerSummary]
    ) -> TemplateResponse | None:
        customers = [self.as_row(row) for row in queryset]
        form = action_form(
            self,
            request,
            customers,
            ForgetCustomersForm,
            title="Forget these customers",
            submit=f"Forget {len(customers)} customer{'s' if len(customers) != 1 else ''}",
            describe=lambda c: f"{c.customer_id} · {count(c.order_count)} orders",
            note=(
                "The address lines, city and postal code of every order of theirs will read "
                '"[erased]" everywhere, for good: this can\'t be undone. Their orders, the '
                "country and the customer id stay. Recorded as forgotten by "
                f"{request.user.get_username()}, with the reason below."
            ),
        )
        if isinstance(form, TemplateResponse):
            return form
        reason = form.cleaned_data["reason"]
        last = 0
        for customer in customers:
            done = forget_customer(
                customer.customer_id,
                reason,
                actor=request.user.get_username(),
                correlation_id=str(uuid.uuid4()),
                wait=False,  # once for all of them, below
            )
            last = max(last, done.position)
            when = moment(done.forgotten_at)
            if done.first:
                self.message_user(
                    request,
                    f"Customer {customer.customer_id} forgotten ({when}).",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    f"Customer {customer.customer_id} was forgotten already ({when}).",
                    messages.WARNING,
                )
        if not wait_for_read_models(last, settings.BACKOFFICE_CONSISTENCY_TIMEOUT):
            self.message_user(
                request,
                "The read models are still scrubbing: their pages may show the old addresses "
                "for a few moments more.",
                messages.INFO,
            )
        return None


class DailySalesChangeList(PartsChangeList):
    """The days the filters keep, with their totals and a chart of the latest CHART_DAYS."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.currencies = currencies_in_use()
        for row in self.result_list:
            row.currencies = self.currencies
        sums = self.queryset.order_by().aggregate(
            days=Count("pk"),
            placed=Sum("orders_placed"),
            shipped=Sum("orders_shipped"),
            cancelled=Sum("orders_cancelled"),
            units=Sum("items_sold"),
            revenue=Sum("gross_revenue"),
        )
        self.totals = {
            "days": count(sums["days"] or 0),
            "placed": count(sums["placed"] or 0),
            "shipped": count(sums["shipped"] or 0),
            "cancelled": count(sums["cancelled"] or 0),
            "units": count(sums["units"] or 0),
            "revenue": amount_in(sums["revenue"] or Decimal(0), self.currencies),
        }
        latest = list(
            self.queryset.order_by("-date").values_list("date", "orders_placed", "gross_revenue")[
                :CHART_DAYS
            ]
        )
        self.charts = _charts(latest)


def _charts(latest: list[tuple[date, int, Decimal]]) -> dict[str, Any]:
    """Revenue and orders placed per day, from the first to the last day of ``latest`` (days
    without a row count as none)."""
    if not latest:
        return {}
    by_day = {day: (placed, revenue) for day, placed, revenue in latest}
    first, last = min(by_day), max(by_day)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    every = max(1, len(days) // 8)
    revenue = [(d.isoformat(), by_day.get(d, (0, Decimal(0)))[1]) for d in days]
    placed = [(d.isoformat(), by_day.get(d, (0, Decimal(0)))[0]) for d in days]
    return {
        "first": first,
        "last": last,
        "revenue": bar_chart(
            "Gross revenue", revenue, fmt=lambda v: f"{Decimal(v):,.0f}", label_every=every
        ),
        "placed": bar_chart("Orders placed", placed, label_every=every),
    }


@admin.register(DailySales)
class DailySalesAdmin(PartsAdmin[DailySales]):
    projection = "daily_sales"
    key = "date"
    sums = DAILY_SUMS
    list_display = (
        "day",
        "placed",
        "shipped",
        "cancelled",
        "units_sold",
        "revenue",
    )
    list_filter = (("date", admin.DateFieldListFilter),)
    date_hierarchy = "date"
    ordering = ("-date",)
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DailySalesChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"title": "Daily sales", "module_name": "days", **(extra_context or {})}
        return super().changelist_view(request, context)

    @admin.display(description="day (UTC)", ordering="date")
    def day(self, row: DailySales) -> str:
        return row.date.isoformat()

    @admin.display(description="orders placed", ordering="orders_placed")
    def placed(self, row: DailySales) -> str:
        return count(row.orders_placed)

    @admin.display(description="shipped", ordering="orders_shipped")
    def shipped(self, row: DailySales) -> str:
        return count(row.orders_shipped)

    @admin.display(description="cancelled", ordering="orders_cancelled")
    def cancelled(self, row: DailySales) -> str:
        return count(row.orders_cancelled)

    @admin.display(description="units sold", ordering="items_sold")
    def units_sold(self, row: DailySales) -> str:
        return count(row.items_sold)

    @admin.display(description="revenue", ordering="gross_revenue")
    def revenue(self, row: DailySales) -> str:
        return amount_in(row.gross_revenue, getattr(row, "currencies", ()))
