"""Write-side bookkeeping in the admin (read-only)."""

from __future__ import annotations

from django.contrib import admin

from config.admin_base import ReadOnlyAdmin
from orders.models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "actor", "status_code", "created_at")
    search_fields = ("=key", "=actor")
