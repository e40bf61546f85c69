"""Orders in the back office: find one, see it whole with its history, take one by phone and act
on it through the command service (backoffice.commands), with orders.issue_order_commands
required for every command."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Final

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from backoffice import streams
from backoffice.commands import COMMANDS, create_command, issue, show_when_applied
from backoffice.display import amount, moment
from backoffice.forms import CreateOrderForm, ItemRows, ShipSelectedForm, action_form
from backoffice.paging import CappedCountPaginator
from backoffice.views import version_asked
from common.admin import ReadOnlyAdmin
from orders.domain import commands as cmd
from orders.domain.model import OrderStatus
from orders.streams import stream_id_for
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


class PlacedFilter(admin.DateFieldListFilter):
    """Django's date filter on when the order was placed, called so."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "placed"


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
        "units",
        "city",
        "created",
        "updated",
    )
    list_filter = (StatusFilter, ("created_at", PlacedFilter), TotalFilter)
    search_fields = ("order_id",)  # the box is ours (get_search_results)
    search_help_text = "An order id, or words of a customer id, product id, city or cancel reason."
    ordering = ("-created_at",)
    sortable_by = ("created", "total", "units", "updated")  # each has an index
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    list_per_page = 50
    paginator = CappedCountPaginator
    actions = ("ship_selected",)
    fieldsets = (
        (None, {"fields": ("order_id", "status_badge", "customer", "total", "version")}),
        ("Items", {"fields": ("items_table",)}),
        ("Shipping", {"fields": ("address", "carrier", "tracking_number", "shipped")}),
        ("Cancellation", {"fields": ("cancel_reason", "cancelled")}),
        ("Dates", {"fields": ("created", "updated")}),
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
        return amount(order.total_amount, order.currency)

    @admin.display(description="units", ordering="item_count")
    def units(self, order: OrderView) -> str:
        return f"{order.item_count:,}"

    @admin.display(description="placed", ordering="created_at")
    def created(self, order: OrderView) -> str:
        return moment(order.created_at)

    @admin.display(description="last change", ordering="updated_at")
    def updated(self, order: OrderView) -> str:
        return moment(order.updated_at)

    @admin.display(description="shipped")
    def shipped(self, order: OrderView) -> str:
        return moment(order.shipped_at)

    @admin.display(description="cancelled")
    def cancelled(self, order: OrderView) -> str:
        return moment(order.cancelled_at)

    @admin.display(description="city")
    def city(self, order: OrderView) -> str:
        return str(order.shipping_address.get("city", ""))

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
                (
                    i.product_id,
                    f"{i.quantity:,}",
                    amount(i.unit_price, order.currency),
                    amount(i.line_total, order.currency),
                )
                for i in getattr(order, "items", [])
            ),
        )
        return format_html(
            '<table class="items"><thead><tr><th>product</th><th class="num">quantity</th>'
            '<th class="num">unit price</th><th class="num">line total</th></tr></thead>'
            "<tbody>{}</tbody><tfoot><tr><th>{} units</th><th></th><th></th>"
            '<th class="num">{}</th></tr></tfoot></table>',
            rows,
            f"{order.item_count:,}",
            amount(order.total_amount, order.currency),
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            "title": "Orders",
            "module_name": "orders",
            "can_issue_commands": self.has_issue_commands_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context: dict[str, Any] = {"title": "Order", **(extra_context or {})}
        order = self.get_object(request, object_id)
        if order is not None:
            context["crumb"] = str(order.order_id)
            context["timeline_url"] = reverse(
                "admin:stream-timeline", args=[stream_id_for(order.order_id)]
            )
            context["history_url"] = reverse(
                "admin:projections_orderview_history", args=[order.order_id]
            )
            if self.has_issue_commands_permission(request) and order.status == "pending":
                context["commands"] = [
                    (
                        name,
                        spec,
                        reverse(f"admin:projections_orderview_{name}", args=[order.order_id]),
                    )
                    for name, spec in COMMANDS.items()
                    if name != "remove-item" or getattr(order, "items", [])
                ]
        return super().change_view(request, object_id, form_url, context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The order's events, newest first, a page at a time (who did what, when)."""
        try:
            order_id = uuid.UUID(object_id)
        except ValueError:
            raise Http404(f"{object_id!r} is not an order id.") from None
        stream_id = stream_id_for(order_id)
        found = streams.history_page(stream_id, version_asked(request, "to"))
        if found is None:
            raise Http404(f"There is no order {order_id} in the log.")
        where, entries = found
        context = {
            **self.admin_site.each_context(request),
            "title": f"History of order {order_id}",
            "opts": self.opts,
            "order_id": order_id,
            "window": where,
            "entries": entries,
            "timeline_url": reverse("admin:stream-timeline", args=[stream_id]),
            "may_view_log": request.user.has_perm("eventstore.view_event"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "backoffice/order_history.html", context)

    # --- commands -------------------------------------------------------------------------
    def has_issue_commands_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.issue_order_commands")

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "new/",
                self.admin_site.admin_view(self.create_view),
                name="projections_orderview_create",
            ),
        ] + [
            path(
                f"<uuid:order_id>/{name}/",
                self.admin_site.admin_view(self.command_view),
                {"name": name},
                name=f"projections_orderview_{name}",
            )
            for name in COMMANDS
        ]
        return own + super().get_urls()

    def create_view(self, request: HttpRequest) -> HttpResponse:
        """Take an order (by phone): customer, currency, address and its first items."""
        if not self.has_issue_commands_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        form, items = CreateOrderForm(data), ItemRows(data, prefix="items")
        if request.method == "POST" and form.is_valid() and items.is_valid():
            command = create_command(form, items)
            result = issue(request, command)
            if not isinstance(result, str):
                self.message_user(request, f"Order {command.order_id} created.", messages.SUCCESS)
                return self._after(request, command.order_id, result.position)
            form.add_error(None, result)
        context = {
            **self.admin_site.each_context(request),
            "title": "Take an order",
            "opts": self.opts,
            "form": form,
            "customer_fields": [form["customer_id"], form["currency"]],
            "address_fields": [
                form[name] for name in ("line1", "line2", "postal_code", "city", "country")
            ],
            "items": items,
        }
        return TemplateResponse(request, "backoffice/create_order.html", context)

    def command_view(self, request: HttpRequest, order_id: uuid.UUID, name: str) -> HttpResponse:
        if not self.has_issue_commands_permission(request):
            raise PermissionDenied
        spec = COMMANDS[name]
        order = self.get_object(request, str(order_id))
        if order is None:
            raise Http404(f"There is no order {order_id} in the order list (yet).")
        data = request.POST if request.method == "POST" else None
        form = spec.form(data, order=order, initial=spec.initial(order))
        if request.method == "POST" and form.is_valid():
            result = issue(request, spec.command(order, form.cleaned_data))
            if not isinstance(result, str):
                self.message_user(request, f"Order {order.order_id} {spec.done}.", messages.SUCCESS)
                return self._after(request, order.order_id, result.position)
            form.add_error(None, result)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{spec.title} {order.order_id}",
            "opts": self.opts,
            "order": order,
            "total": amount(order.total_amount, order.currency),
            "form": form,
            "spec": spec,
        }
        return TemplateResponse(request, "backoffice/order_command.html", context)

    def _after(self, request: HttpRequest, order_id: uuid.UUID, position: int) -> HttpResponse:
        """The order's page once the read model has the command; its timeline (read from the
        log itself) when the read model is not there yet."""
        if show_when_applied(request, position):
            return HttpResponseRedirect(
                reverse("admin:projections_orderview_change", args=[order_id])
            )
        return HttpResponseRedirect(
            reverse("admin:stream-timeline", args=[stream_id_for(order_id)])
        )

    @admin.action(description="Ship selected orders", permissions=["issue_commands"])
    def ship_selected(
        self, request: HttpRequest, queryset: QuerySet[OrderView]
    ) -> TemplateResponse | None:
        orders = list(queryset)
        waiting = [order for order in orders if order.status == OrderStatus.PENDING]
        form = action_form(
            self,
            request,
            queryset,
            ShipSelectedForm,
            title="Ship these orders",
            submit=f"Ship {len(waiting)} order{'s' if len(waiting) != 1 else ''}",
            describe=_shipping_plan,
            note=_shipping_note(orders, waiting),
        )
        if isinstance(form, TemplateResponse):
            return form
        shipped = []
        for order in waiting:
            result = issue(request, cmd.ShipOrder(order_id=order.order_id, **form.cleaned_data))
            if isinstance(result, str):
                self.message_user(request, f"Order {order.order_id}: {result}", messages.ERROR)
            else:
                shipped.append(result)
        left = len(orders) - len(waiting)
        if shipped:
            self.message_user(request, f"{len(shipped)} orders shipped.", messages.SUCCESS)
            show_when_applied(request, max(r.position for r in shipped))
        if left:
            self.message_user(
                request,
                f"{left} of the selected orders were not pending and were left as they were.",
                messages.WARNING,
            )
        return None


def _shipping_plan(order: OrderView) -> str:
    """What "ship selected" will do with ``order``, as its confirmation page lists it."""
    what = f"{order.order_id} · {order.customer_id} · {amount(order.total_amount, order.currency)}"
    if order.status == OrderStatus.SHIPPED:
        return f"{what} — already shipped {moment(order.shipped_at)}: left as it is"
    if order.status == OrderStatus.CANCELLED:
        return f"{what} — cancelled: can't be shipped, left as it is"
    return f"{what} — pending: will be shipped"


def _shipping_note(orders: list[OrderView], waiting: list[OrderView]) -> str:
    if len(waiting) == len(orders):
        return ""
    return (
        f"{len(orders) - len(waiting)} of the {len(orders)} selected orders are not pending "
        "(marked below): only the pending ones are shipped."
    )
