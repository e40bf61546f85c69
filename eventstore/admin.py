"""The event log in the admin: browse and search, never change."""

from __future__ import annotations

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from eventstore.models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("global_position", "stream_id", "version", "event_type", "recorded_at")
    list_filter = ("event_type", "stream_type")
    search_fields = ("=stream_id", "=event_id")
    ordering = ("-global_position",)
    show_full_result_count = False
