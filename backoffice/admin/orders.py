"""Orders in the back office: find one, see it whole, and act on it through the command service
(backoffice.commands), with orders.issue_order_commands required for every command."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Final

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from backoffice.admin.events import timeline_link
from backoffice.commands import COMMANDS, issue, show_when_applied
from backoffice.display import moment
from backoffice.forms import ShipForm, action_form
from backoffice.paging import CappedCountPaginator
from common.admin import ReadOnlyAdmin
from orders.domain import commands as cmd
from orders.domain.model import OrderStatus
from orders.repository import stream_id_for
from projections.read_models.models import OrderView
from projections.read_models.selectors import order_view_list, with_items


class StatusFilter(admin.SimpleListFilter):
    """The statuses the domain knows (listing distinct values would read every row)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(status.value, status.value) for status in OrderStatus]

    def queryset(self, request: HttpRequest, queryset: QuerySet[OrderView]) -> QuerySet[OrderView]:
        return queryset.filter(status=self.value()) if self.value() else queryset


class TotalFilter(admin.SimpleListFilter):
    title = "total"
    parameter_name = "total"
    RANGES: Final = {
        "0-50": (Decimal(0), Decimal(50)),
        "50-200": (Decimal(50), Decimal(200)),
        "200-1000": (Decimal(200), Decimal(1000)),
        "1000-": (Decimal(1000), None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("0-50", "under 50"),
            ("50-200", "50 to 200"),
            ("200-1000", "200 to 1,000"),
            ("1000-", "1,000 and more"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[OrderView]) -> QuerySet[OrderView]:
        bounds = self.RANGES.get(self.value() or "")
        if bounds is None:
            return queryset
        low, high = bounds
        queryset = queryset.filter(total_amount__gte=low)
        return queryset if high is None else queryset.filter(total_amount__lt=high)


class OrderChangeList(ChangeList):
    """Rows link to the order by its id, which stays the same across rebuilds (row ids do not)."""

    def url_for_result(self, result: Model) -> str:
        return reverse("admin:projections_orderview_change", args=[result.order_id])  # type: ignore[attr-defined]


def status_badge(status: str) -> SafeString:
    return format_html('<span class="badge badge-{}">{}</span>', status, status)


@admin.register(OrderView)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "order_id",
        "customer",
        "status_badge",
        "total",
        "item_count",
        "city",
        "created",
        "updated",
    )
    list_filter = (StatusFilter, ("created_at", admin.DateFieldListFilter), TotalFilter)
    search_fields = ("order_id",)  # the box is ours (get_search_results)
    search_help_text = "An order id, or words of a customer id, product id, city or cancel reason."
    ordering = ("-created_at",)
    sortable_by = ("created", "total", "item_count", "updated")  # each has an index
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    list_per_page = 50
    paginator = CappedCountPaginator
    actions = ("ship_selected",)
    fieldsets = (
        (None, {"fields": ("order_id", "status_badge", "customer", "total", "timeline")}),
        ("Items", {"fields": ("items_table",)}),
        (
            "Shipping",
            {"fields": ("address", "carrier", "tracking_number", "shipped_at")},
        ),
        ("Cancellation", {"fields": ("cancel_reason", "cancelled_at")}),
        ("Read model", {"fields": ("version", "created_at", "updated_at", "generation")}),
    )

    # --- reading --------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderView]:
        return order_view_list()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return OrderChangeList

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> OrderView | None:
        try:
            order_id = uuid.UUID(object_id)
        except ValueError:
            return None
        row = self.get_queryset(request).filter(order_id=order_id).first()
        return None if row is None else with_items([row])[0]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OrderView], search_term: str
    ) -> tuple[QuerySet[OrderView], bool]:
        """An order id exactly; anything else as the API's ``q`` (full text on PostgreSQL)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(order_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.filter(search_text__matches=term), False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [str(field) for _name, options in self.fieldsets for field in options["fields"]]

    @admin.display(description="customer")
    def customer(self, order: OrderView) -> SafeString:
        url = reverse("admin:projections_orderview_changelist")
        return format_html(
            '<a href="{}?customer_id={}">{}</a>', url, order.customer_id, order.customer_id
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, order: OrderView) -> SafeString:
        return status_badge(order.status)

    @admin.display(description="total", ordering="total_amount")
    def total(self, order: OrderView) -> str:
        return f"{order.total_amount:,.2f} {order.currency}"

    @admin.display(description="created (UTC)", ordering="created_at")
    def created(self, order: OrderView) -> str:
        return moment(order.created_at)

    @admin.display(description="updated (UTC)", ordering="updated_at")
    def updated(self, order: OrderView) -> str:
        return moment(order.updated_at)

    @admin.display(description="city")
    def city(self, order: OrderView) -> str:
        return str(order.shipping_address.get("city", ""))

    @admin.display(description="timeline")
    def timeline(self, order: OrderView) -> SafeString:
        return timeline_link(stream_id_for(order.order_id))

    @admin.display(description="shipping address")
    def address(self, order: OrderView) -> SafeString:
        a = order.shipping_address
        lines = [
            a.get("line1"),
            a.get("line2"),
            f"{a.get('postal_code', '')} {a.get('city', '')}",
            a.get("country"),
        ]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line))

    @admin.display(description="items")
    def items_table(self, order: OrderView) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td class='num'>{}</td><td class='num'>{}</td>"
            "<td class='num'>{}</td></tr>",
            (
                (i.product_id, i.quantity, f"{i.unit_price:,.2f}", f"{i.line_total:,.2f}")
                for i in getattr(order, "items", [])
            ),
        )
        return format_html(
            '<table class="items"><thead><tr><th>product</th><th class="num">quantity</th>'
            '<th class="num">unit price</th><th class="num">line total</th></tr></thead>'
            "<tbody>{}</tbody><tfoot><tr><th>{} units</th><th></th><th></th>"
            '<th class="num">{} {}</th></tr></tfoot></table>',
            rows,
            order.item_count,
            f"{order.total_amount:,.2f}",
            order.currency,
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": "Orders", **(extra_context or {})})

    # --- commands -------------------------------------------------------------------------
    def has_issue_commands_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.issue_order_commands")

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                f"<uuid:order_id>/{name}/",
                self.admin_site.admin_view(self.command_view),
                {"name": name},
                name=f"projections_orderview_{name}",
            )
            for name in COMMANDS
        ]
        return own + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {"title": "Order", **(extra_context or {})}
        context["can_issue_commands"] = self.has_issue_commands_permission(request)
        try:
            stream_id = stream_id_for(uuid.UUID(object_id))
        except ValueError:
            pass  # no such order: the admin redirects to the list
        else:
            context["timeline_url"] = reverse("admin:stream-timeline", args=[stream_id])
        return super().change_view(request, object_id, form_url, context)

    def command_view(self, request: HttpRequest, order_id: uuid.UUID, name: str) -> HttpResponse:
        if not self.has_issue_commands_permission(request):
            raise PermissionDenied
        spec = COMMANDS[name]
        order = self.get_object(request, str(order_id))
        if order is None:
            self.message_user(request, f"No order {order_id} in the read model.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:projections_orderview_changelist"))
        form = spec.form(request.POST or None, initial=spec.initial(order))
        if request.method == "POST" and form.is_valid():
            result = issue(request, spec.command(order.order_id, form.cleaned_data))
            if result is not None:
                self.message_user(request, f"Order {order.order_id} {spec.done}.", messages.SUCCESS)
                show_when_applied(request, result.position)
                url = reverse("admin:projections_orderview_change", args=[order.order_id])
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{spec.title} {order.order_id}",
            "opts": self.opts,
            "order": order,
            "form": form,
            "submit": spec.title.split(" ")[0],
        }
        return TemplateResponse(request, "backoffice/order_command.html", context)

    @admin.action(description="Ship selected orders", permissions=["issue_commands"])
    def ship_selected(
        self, request: HttpRequest, queryset: QuerySet[OrderView]
    ) -> TemplateResponse | None:
        form = action_form(
            self, request, queryset, ShipForm, title="Ship these orders", submit="Ship"
        )
        if isinstance(form, TemplateResponse):
            return form
        commands = [cmd.ShipOrder(order_id=o.order_id, **form.cleaned_data) for o in queryset]
        shipped = [result for command in commands if (result := issue(request, command))]
        if shipped:
            self.message_user(request, f"{len(shipped)} orders shipped.", messages.SUCCESS)
            show_when_applied(request, max(r.position for r in shipped))
        return None
