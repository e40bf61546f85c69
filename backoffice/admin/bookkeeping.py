"""Write-side bookkeeping in the back office: idempotency keys, read-only."""

from __future__ import annotations

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from orders.models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "actor", "response", "created_at")
    search_fields = ("=key", "=actor")
    show_facets = admin.ShowFacets.NEVER
