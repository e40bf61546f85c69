"""Projection health in the admin: read-only states and skips, repairs through the engine."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from common.admin import ReadOnlyAdmin
from projections.engine import poison, runner
from projections.engine.models import ProjectionSkip, ProjectionState


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
                poison.retry(state.name)
                runner.run(state.name, generation=state.generation)
            except poison.ProjectionError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"{state.name}: retried.")


@admin.register(ProjectionSkip)
class ProjectionSkipAdmin(ReadOnlyAdmin):
    list_display = ("name", "position", "event_type", "actor", "reason", "skipped_at")
