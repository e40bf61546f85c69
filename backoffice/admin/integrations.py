"""Webhooks, their deliveries and the Python subscribers in the back office (Operations).

Webhooks are added (the secret shown on the page that answers, once), enabled and deleted
through the services the API uses (integrations.services), by staff holding
``integrations.manage_webhooks``; a delivery can be made again. A webhook's or subscriber's
failing event (an error of the service's own, not a receiver's answer) is retried or skipped
as a projection's is, with ``projections.operate_projections``; there is nothing to rebuild.
The secret is on no list, form or log entry.
"""

from __future__ import annotations

from typing import Any, Final

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from backoffice import staleness
from backoffice.admin.events import event_link
from backoffice.admin.projections import projection_badge
from backoffice.display import count, moment
from backoffice.forms import SkipForm, action_form
from common.admin import ReadOnlyAdmin
from integrations import addresses, services
from integrations.api import EVENT_TYPE_PATTERN
from integrations.followers import follower_name
from integrations.models import Delivery, SubscriberState, Webhook
from integrations.status import FollowerRow, follower_status_list
from integrations.subscribers import all_subscribers
from projections.engine import poison
from projections.engine.wakeups import wake_projections

MANAGE: Final = "integrations.manage_webhooks"
OPERATE: Final = "projections.operate_projections"
DELIVER_AGAIN_AT_ONCE: Final = 5
WEBHOOK_CSS: Final = {"active": "ok", "failing": "warn", "disabled": "bad", "failed": "bad"}


def _row_of(name: str) -> FollowerRow | None:
    return next((row for row in follower_status_list() if row.name == name), None)


class FollowerChangeList(ChangeList):
    """Each row carries its follower's status (computed once per page)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = {row.name: row for row in follower_status_list()}
        self.result_list = list(self.result_list)
        for obj in self.result_list:
            name = follower_name(obj.pk) if isinstance(obj, Webhook) else obj.name
            obj.follower = rows.get(name)


def _follower(obj: Model) -> FollowerRow | None:
    row: FollowerRow | None = getattr(obj, "follower", None)
    return row


class WebhookForm(ModelForm):  # type: ignore[type-arg]
    """What staff type for a new webhook: its URL, the event types (all if empty) and what it
    is for. The URL is checked as the API checks it (integrations.addresses)."""

    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https")
    event_types_text = forms.CharField(
        label="Event types",
        required=False,
        max_length=2000,
        help_text="Comma-separated (e.g. OrderShipped, OrderCancelled); empty: every event.",
    )

    class Meta:
        model = Webhook
        fields = ("description",)  # and the URL above (Django's model field asks for a scheme)

    def clean_url(self) -> str:
        url = str(self.cleaned_data["url"])
        try:
            addresses.check(url)
        except (addresses.UrlInvalid, addresses.UrlNotAllowed) as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean_event_types_text(self) -> list[str]:
        text = str(self.cleaned_data.get("event_types_text") or "")
        names = [name.strip() for name in text.split(",") if name.strip()]
        validator = forms.RegexField(EVENT_TYPE_PATTERN, max_length=100)
        for name in names:
            validator.clean(name)
        return names


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = WebhookForm
    list_display = (
        "target",
        "types",
        "state",
        "at",
        "lag_events",
        "failing",
        "error",
        "last_delivery",
        "deliveries",
    )
    list_display_links = None
    actions = ("enable", "retry", "skip", "delete_selected")
    sortable_by = ()
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return FollowerChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": "Webhooks", **(extra_context or {})})

    # --- who may do what --------------------------------------------------------------------
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # made, enabled or deleted; never edited (its cursor is the log's)

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE)

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OPERATE)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("url", "event_types_text", "description")
        return ("url", "event_types", "description", "status", "failing_since", "last_error")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.get_fields(request, obj)

    # --- adding: through the service, the secret shown on the answering page ------------------
    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        created = services.webhook_create(
            url=form.cleaned_data["url"],
            event_types=form.cleaned_data["event_types_text"],
            description=form.cleaned_data.get("description") or "",
        )
        obj.pk = created.webhook.pk
        obj.secret = created.secret
        obj.created_at = created.webhook.created_at

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return  # nothing related; the row is the service's

    def response_add(
        self, request: HttpRequest, obj: Webhook, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The new webhook's secret, shown this once, on the page itself (never in a message)."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook created",
            "url": obj.url,
            "secret": obj.secret,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "backoffice/webhook_secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        services.webhook_delete(webhook_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        for webhook in queryset:
            services.webhook_delete(webhook_id=webhook.pk)

    # --- columns ----------------------------------------------------------------------------
    @admin.display(description="URL")
    def target(self, webhook: Webhook) -> SafeString:
        url = reverse("admin:integrations_webhook_change", args=[webhook.pk])
        text = f"{webhook.url} ({webhook.description})" if webhook.description else webhook.url
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description="event types")
    def types(self, webhook: Webhook) -> str:
        return ", ".join(webhook.event_types) or "all"

    @admin.display(description="status")
    def state(self, webhook: Webhook) -> SafeString:
        row = _follower(webhook)
        status = row.status if row is not None else webhook.status
        return format_html(
            '<span class="badge badge-{}">{}</span>', WEBHOOK_CSS.get(status, ""), status
        )

    @admin.display(description="position")
    def at(self, webhook: Webhook) -> str:
        row = _follower(webhook)
        return count(row.position if row else None)

    @admin.display(description="lag (events)")
    def lag_events(self, webhook: Webhook) -> str:
        row = _follower(webhook)
        return count(row.lag_events if row else None)

    @admin.display(description="failing since")
    def failing(self, webhook: Webhook) -> str:
        return moment(webhook.failing_since)

    @admin.display(description="last error")
    def error(self, webhook: Webhook) -> str:
        row = _follower(webhook)
        return (row.last_error if row else webhook.last_error) or "—"

    @admin.display(description="last delivery")
    def last_delivery(self, webhook: Webhook) -> str:
        return moment(webhook.last_delivery_at)

    @admin.display(description="deliveries")
    def deliveries(self, webhook: Webhook) -> SafeString:
        url = reverse("admin:integrations_delivery_changelist")
        return format_html('<a href="{}?webhook__id__exact={}">deliveries</a>', url, webhook.pk)

    # --- actions ----------------------------------------------------------------------------
    @admin.action(description="Enable (resumes where it stopped)", permissions=["manage"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        for webhook in queryset:
            services.webhook_enable(webhook_id=webhook.pk)
            self.log_change(request, webhook, "Enabled.")
        staleness.forget()
        self.message_user(
            request, f"Enabled {len(queryset)} webhook(s): they resume where they stopped."
        )

    @admin.action(description="Retry the failing event", permissions=["operate"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        _retry(self, request, [(w, follower_name(w.pk)) for w in queryset])

    @admin.action(description="Skip the failing event (asks why)", permissions=["operate"])
    def skip(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> TemplateResponse | None:
        return _skip(self, request, queryset, lambda w: follower_name(w.pk))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "delivered",
        "webhook_link",
        "event",
        "attempt",
        "outcome",
        "status_code",
        "duration",
        "error",
    )
    list_display_links = None
    list_filter = ("webhook",)
    actions = ("deliver_again",)
    sortable_by = ()
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE) or super().has_view_permission(request, obj)

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).select_related("webhook")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"title": "Webhook deliveries", **(extra_context or {})}
        return super().changelist_view(request, context)

    @admin.display(description="at")
    def delivered(self, row: Delivery) -> str:
        return moment(row.delivered_at)

    @admin.display(description="webhook")
    def webhook_link(self, row: Delivery) -> str:
        return row.webhook.description or row.webhook.url

    @admin.display(description="event")
    def event(self, row: Delivery) -> SafeString:
        return event_link(row.position, str(row.event_id))

    @admin.display(description="outcome")
    def outcome(self, row: Delivery) -> SafeString:
        text, css = ("delivered", "ok") if row.succeeded else ("failed", "bad")
        return format_html('<span class="badge badge-{}">{}</span>', css, text)

    @admin.display(description="took")
    def duration(self, row: Delivery) -> str:
        return f"{row.duration_ms:,} ms"

    @admin.action(description="Deliver again (now, once)", permissions=["manage"])
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        # Each is a POST of up to 10 s made while the page waits: a few at a time.
        if queryset.count() > DELIVER_AGAIN_AT_ONCE:
            self.message_user(
                request,
                f"Select at most {DELIVER_AGAIN_AT_ONCE} deliveries to deliver again at once.",
                messages.WARNING,
            )
            return
        for row in queryset:
            try:
                again = services.delivery_deliver_again(delivery_id=row.pk)
            except services.WebhookError as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            if again.succeeded:
                self.message_user(
                    request,
                    f"Event {row.event_id} delivered again (attempt {again.attempt}, "
                    f"HTTP {again.status_code}).",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    f"Event {row.event_id}: attempt {again.attempt} failed — {again.error}",
                    messages.ERROR,
                )


@admin.register(SubscriberState)
class SubscriberAdmin(ReadOnlyAdmin):
    list_display = ("name", "types", "health", "at", "lag_events", "failing_event", "error")
    list_display_links = None
    actions = ("retry", "skip")
    sortable_by = ()
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return FollowerChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubscriberState]:
        names = [subscriber.name for subscriber in all_subscribers()]
        return (
            super()
            .get_queryset(request)
            .filter(name__in=names, active=True, shard=0)
            .order_by("name")
        )

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(OPERATE)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": "Subscribers", **(extra_context or {})})

    @admin.display(description="event types")
    def types(self, state: SubscriberState) -> str:
        row = _follower(state)
        return row.description if row else "—"

    @admin.display(description="status")
    def health(self, state: SubscriberState) -> SafeString:
        row = _follower(state)
        return projection_badge(row.status if row else "running")

    @admin.display(description="position")
    def at(self, state: SubscriberState) -> str:
        return count(state.position)

    @admin.display(description="lag (events)")
    def lag_events(self, state: SubscriberState) -> str:
        row = _follower(state)
        return count(row.lag_events if row else None)

    @admin.display(description="failing event")
    def failing_event(self, state: SubscriberState) -> SafeString | str:
        return event_link(state.error_position) if state.error_position is not None else "—"

    @admin.display(description="last error")
    def error(self, state: SubscriberState) -> str:
        return state.last_error or "—"

    @admin.action(description="Retry the failing event", permissions=["operate"])
    def retry(self, request: HttpRequest, queryset: QuerySet[SubscriberState]) -> None:
        _retry(self, request, [(s, s.name) for s in queryset])

    @admin.action(description="Skip the failing event (asks why)", permissions=["operate"])
    def skip(
        self, request: HttpRequest, queryset: QuerySet[SubscriberState]
    ) -> TemplateResponse | None:
        return _skip(self, request, queryset, lambda s: s.name)


# --- the operator's repairs, as for projections (projections.engine.poison) -----------------
def _retry(model_admin: admin.ModelAdmin[Any], request: HttpRequest, chosen: list[Any]) -> None:
    for obj, name in chosen:
        try:
            state = poison.retry(name)
        except poison.ProjectionError as exc:
            model_admin.message_user(request, str(exc), messages.WARNING)
            continue
        model_admin.log_change(request, obj, f"Retried event {state.error_position}.")
        model_admin.message_user(
            request, f"{name}: the failing event is tried again now.", messages.SUCCESS
        )
    staleness.forget()
    wake_projections()


def _skip(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    name_of: Any,
) -> TemplateResponse | None:
    form = action_form(
        model_admin,
        request,
        queryset,
        SkipForm,
        title="Skip the failing event",
        submit="Skip it",
        describe=lambda obj: _describe(name_of(obj)),
    )
    if isinstance(form, TemplateResponse):
        return form
    for obj in queryset:
        name = name_of(obj)
        try:
            record = poison.skip(
                name, reason=form.cleaned_data["reason"], actor=request.user.get_username()
            )
        except poison.ProjectionError as exc:
            model_admin.message_user(request, str(exc), messages.WARNING)
            continue
        model_admin.log_change(request, obj, f"Skipped event {record.position}: {record.reason}")
        model_admin.message_user(
            request, f"{name}: skipped event {record.position}.", messages.SUCCESS
        )
    staleness.forget()
    wake_projections()
    return None


def _describe(name: str) -> str:
    row = _row_of(name)
    if row is None or not row.last_error:
        return f"{name}: not stopped at any event"
    return f"{name}: {row.last_error}"
