"""The event log in the back office: newest first, paged by position, never changed.

Every filter and search is answered from an index, pages are read by position (no COUNT, no
OFFSET), so page 10,000 costs what page 1 does (bench/admin.py, docs/benchmarks.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString

from backoffice import eventlog
from backoffice.display import moment
from backoffice.jsonhtml import json_html
from backoffice.paging import KeysetChangeList
from common.admin import ReadOnlyAdmin
from eventstore import store
from eventstore.models import CORRELATION_ID, Event


class _IndexedValuesFilter(admin.SimpleListFilter):
    """A filter on a column whose values are listed from its index, not by reading the log."""

    column = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in eventlog.distinct_values(self.column)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        value = self.value()
        return queryset.filter(**{self.column: value}) if value else queryset


class StreamTypeFilter(_IndexedValuesFilter):
    title = "stream type"
    parameter_name = column = "stream_type"


class EventTypeFilter(_IndexedValuesFilter):
    title = "event type"
    parameter_name = column = "event_type"


class RecordedFilter(admin.DateFieldListFilter):
    """Django's date filter, with the range also given as positions (eventlog.position_at), so
    the page is read from the primary key between them however far back the range lies."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        filtered = super().queryset(request, queryset)
        if filtered is None:
            return queryset
        since = _moment(self.used_parameters.get(self.lookup_kwarg_since))
        until = _moment(self.used_parameters.get(self.lookup_kwarg_until))
        if since is not None:
            filtered = filtered.filter(global_position__gte=eventlog.position_at(since))
        if until is not None and until < timezone.now():  # Django's choices end tomorrow
            later = until + 2 * eventlog.CLOCK_SKEW  # position_at keeps the skew before
            filtered = filtered.filter(global_position__lt=eventlog.position_at(later))
        return filtered


def _moment(values: Any) -> datetime | None:
    """The filter's parameter (a list of one value) as an aware datetime, if it is one."""
    value = values[-1] if isinstance(values, list) and values else values
    if not isinstance(value, str):
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        moment = None if day is None else datetime.combine(day, time.min)
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def timeline_link(stream_id: str) -> SafeString:
    """A stream's id, linking to its timeline."""
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:stream-timeline", args=[stream_id]), stream_id
    )


def event_link(position: int, text: str | None = None) -> SafeString:
    url = reverse("admin:eventstore_event_change", args=[position])
    return format_html('<a href="{}">{}</a>', url, text or f"#{position}")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("position", "recorded", "stream", "event_type", "version", "actor")
    list_display_links = ("position",)
    list_filter = (StreamTypeFilter, EventTypeFilter, ("recorded_at", RecordedFilter))
    # The box is ours (get_search_results); naming a field only makes Django show it.
    search_fields = ("stream_id",)
    search_help_text = "A stream id (or a bare order id), an event id or a correlation id, exactly."
    list_per_page = 50
    sortable_by = ()  # pages follow the position, so the order is fixed
    show_facets = admin.ShowFacets.NEVER  # counting each filter's values reads the whole log
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "position",
                    "event_type",
                    "schema_version",
                    "stream",
                    "stream_type",
                    "version",
                    "recorded",
                    "event_id",
                )
            },
        ),
        ("Payload", {"fields": ("data_json",)}),
        ("Where it came from", {"fields": ("actor", "correlation", "caused_by", "metadata_json")}),
    )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": "Event log", **(extra_context or {})})

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[KeysetChangeList]:
        return KeysetChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        events: QuerySet[Event] = super().get_queryset(request)
        return events.annotate(actor_name=eventlog.ACTOR)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Event], search_term: str
    ) -> tuple[QuerySet[Event], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        found = queryset.alias(correlation=CORRELATION_ID).filter(eventlog.search(term))
        return found, False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [str(field) for _name, options in self.fieldsets for field in options["fields"]]

    @admin.display(description="event #")
    def position(self, event: Event) -> int:
        return event.global_position

    @admin.display(description="recorded")
    def recorded(self, event: Event) -> str:
        return moment(event.recorded_at)

    @admin.display(description="stream")
    def stream(self, event: Event) -> SafeString:
        return timeline_link(event.stream_id)

    @admin.display(description="actor")
    def actor(self, event: Event) -> str:
        return getattr(event, "actor_name", None) or event.metadata.get("actor") or "—"

    @admin.display(description="data")
    def data_json(self, event: Event) -> SafeString:
        # As every reader sees it: personal fields opened, or "[erased]" (never the envelope).
        return json_html(store.open_personal_data(event.data))

    @admin.display(description="metadata")
    def metadata_json(self, event: Event) -> SafeString:
        return json_html(event.metadata)

    @admin.display(description="correlation id")
    def correlation(self, event: Event) -> SafeString | str:
        correlation_id = event.metadata.get("correlation_id")
        if not correlation_id:
            return "—"
        url = reverse("admin:eventstore_event_changelist")
        return format_html(
            '{} · <a href="{}?q={}">every event of this correlation</a>',
            correlation_id,
            url,
            correlation_id,
        )

    @admin.display(description="caused by")
    def caused_by(self, event: Event) -> SafeString | str:
        """The event that caused this one, when the causation id names an event; else the
        command (whose id it then is)."""
        causation_id = event.metadata.get("causation_id")
        if not causation_id:
            return "—"
        try:
            cause_id = uuid.UUID(str(causation_id))
        except ValueError:
            return str(causation_id)
        cause = Event.objects.filter(event_id=cause_id).only("global_position").first()
        if cause is not None:
            return event_link(cause.global_position, f"event #{cause.global_position}")
        command = event.metadata.get("command_type") or "command"
        return f"{command} {causation_id}"
