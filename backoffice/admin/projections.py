"""Projection health in the back office, and the operator's repairs: rebuild, retry, skip.

The status is the one /api/projections answers (projections.engine.status), so the two never
disagree. Repairs go through the engine's operator services, as the management commands do,
and need projections.operate_projections (the group projection-operators holds it).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from backoffice import staleness
from backoffice.admin.events import event_link
from backoffice.dashboard import rebuild_progress
from backoffice.display import count, moment
from backoffice.forms import SkipForm, action_form
from common.admin import ReadOnlyAdmin
from eventstore.store import head_position
from projections.engine import followers, poison, runner, tasks
from projections.engine.generations import rebuilding_state
from projections.engine.models import ProjectionSkip, ProjectionState
from projections.engine.status import projection_status_list
from projections.engine.wakeups import wake_projections

STATUS_CSS = {"running": "ok", "stalled": "warn", "failed": "bad", "rebuilding": "info"}


class ProjectionChangeList(ChangeList):
    """Each row carries /api/projections' answer for it (computed once per page) and the
    generation a rebuild is filling, if any."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        answers = {row["name"]: row for row in projection_status_list()}
        self.result_list = list(self.result_list)
        for state in self.result_list:
            state.answer = answers[state.name]
            state.rebuilding = rebuilding_state(state.name)


def _answer(state: ProjectionState) -> dict[str, Any]:
    answer: dict[str, Any] = state.answer  # type: ignore[attr-defined]  # see ProjectionChangeList
    return answer


def _failing_event_of(state: ProjectionState) -> str:
    """What the skip form says of a selected projection: where it (or its rebuild) is stuck."""
    for candidate in (state, rebuilding_state(state.name)):
        if candidate is not None and candidate.error_position is not None:
            return (
                f"{state.name} (generation {candidate.generation}): stopped at event "
                f"{candidate.error_position} — {candidate.last_error}"
            )
    return f"{state.name}: not stopped at any event (nothing to skip)"


def projection_badge(status: str) -> SafeString:
    return format_html('<span class="badge badge-{}">{}</span>', STATUS_CSS.get(status, ""), status)


@admin.register(ProjectionState)
class ProjectionAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "health",
        "at",
        "head",
        "lag_events",
        "lag_seconds",
        "shard_list",
        "rebuild",
        "failing_event",
        "error",
    )
    list_display_links = None
    actions = ("rebuild_projection", "retry", "skip")
    sortable_by = ()
    show_facets = admin.ShowFacets.NEVER

    class Media:
        # Keeps the rebuild column's figures current (a static file: the admin's pages allow
        # no inline script).
        js = ("backoffice/progress.js",)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "progress/",
                self.admin_site.admin_view(self.progress_view),
                name="projections_projectionstate_progress",
            )
        ]
        return own + super().get_urls()

    def progress_view(self, request: HttpRequest) -> JsonResponse:
        """The rebuilds under way, as the rebuild column shows them (read by progress.js)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        answers = {row["name"]: row for row in projection_status_list()}
        rebuilds = [
            progress
            for state in self.get_queryset(request)
            if (
                progress := rebuild_progress(
                    state.name, rebuilding_state(state.name), answers[state.name]["head_position"]
                )
            )
        ]
        return JsonResponse({"rebuilds": rebuilds})

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProjectionState]:
        # One row per projection: its active generation (its first shard's cursor; every
        # shard shows in the shards column; a rebuild shows in its row). Other followers'
        # cursors (webhooks, subscribers) have pages of their own.
        names = [follower.name for follower in followers.registered()]
        return (
            super()
            .get_queryset(request)
            .filter(active=True, shard=0, name__in=names)
            .order_by("name")
        )

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("projections.operate_projections")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ProjectionChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": "Projections", **(extra_context or {})})

    # --- columns --------------------------------------------------------------------------
    # Not "status" nor "last_error": those name the generation's own columns, which the admin
    # would show instead (they said "running" while the API said "stalled").
    @admin.display(description="status")
    def health(self, state: ProjectionState) -> SafeString:
        return projection_badge(_answer(state)["status"])

    @admin.display(description="head")
    def head(self, state: ProjectionState) -> str:
        return count(int(_answer(state)["head_position"]))

    @admin.display(description="lag (events)")
    def lag_events(self, state: ProjectionState) -> str:
        return count(int(_answer(state)["lag_events"]))

    @admin.display(description="position")
    def at(self, state: ProjectionState) -> str:
        return count(int(_answer(state)["position"]))  # the lowest shard's

    @admin.display(description="shards (position, lag, owner)")
    def shard_list(self, state: ProjectionState) -> SafeString:
        return format_html_join(
            mark_safe("<br>"),  # a constant, no input
            "#{}: {}, {}, lag {}, {}",
            (
                (
                    shard["index"],
                    shard["status"],
                    count(int(shard["position"])),
                    count(int(shard["lag_events"])),
                    shard["owner"] or "not held",
                )
                for shard in _answer(state)["shards"]
            ),
        )

    @admin.display(description="lag (s)")
    def lag_seconds(self, state: ProjectionState) -> str:
        return f"{_answer(state)['lag_seconds']:.1f}"

    @admin.display(description="rebuild")
    def rebuild(self, state: ProjectionState) -> SafeString | str:
        target = getattr(state, "rebuilding", None)
        progress = rebuild_progress(state.name, target, _answer(state)["head_position"])
        if progress is None:
            return "—"
        return format_html(
            '<span class="rebuild" data-projection="{}">'
            '<progress max="{}" value="{}"></progress> <span class="rebuild-text">{}</span></span>',
            state.name,
            progress["head"],
            progress["position"],
            progress["text"],
        )

    @admin.display(description="failing event")
    def failing_event(self, state: ProjectionState) -> SafeString | str:
        for candidate in (state, getattr(state, "rebuilding", None)):
            if candidate is not None and candidate.error_position is not None:
                return event_link(candidate.error_position)
        return "—"

    @admin.display(description="last error")
    def error(self, state: ProjectionState) -> str:
        return _answer(state)["last_error"] or "—"

    # --- repairs --------------------------------------------------------------------------
    @admin.action(
        description="Rebuild (on a worker; the current tables keep serving)",
        permissions=["operate"],
    )
    def rebuild_projection(self, request: HttpRequest, queryset: QuerySet[ProjectionState]) -> None:
        for state in queryset:
            tasks.rebuild_projection.delay(state.name)
            self.log_change(request, state, f"Rebuild of {state.name} requested.")
            self.message_user(
                request,
                f"Rebuild of {state.name} sent to a worker: its progress shows in this list, "
                "and queries read the current tables until it switches.",
                messages.SUCCESS,
            )

    @admin.action(description="Retry the failing event", permissions=["operate"])
    def retry(self, request: HttpRequest, queryset: QuerySet[ProjectionState]) -> None:
        for state in queryset:
            try:
                failing = poison.retry(state.name)
            except poison.ProjectionError as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            self.log_change(request, state, f"Retried event {failing.error_position}.")
            self._tell_outcome(request, failing, "retried the failing event")

    @admin.action(description="Skip the failing event (asks why)", permissions=["operate"])
    def skip(
        self, request: HttpRequest, queryset: QuerySet[ProjectionState]
    ) -> TemplateResponse | None:
        form = action_form(
            self,
            request,
            queryset,
            SkipForm,
            title="Skip the failing event",
            submit="Skip it",
            describe=_failing_event_of,
        )
        if isinstance(form, TemplateResponse):
            return form
        for state in queryset:
            try:
                record = poison.skip(
                    state.name,
                    reason=form.cleaned_data["reason"],
                    actor=request.user.get_username(),
                )
            except poison.ProjectionError as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            self.log_change(request, state, f"Skipped event {record.position}: {record.reason}")
            failing = ProjectionState.objects.get(name=record.name, generation=record.generation)
            self._tell_outcome(request, failing, f"skipped event {record.position}")
        return None

    def _tell_outcome(self, request: HttpRequest, state: ProjectionState, done: str) -> None:
        """Apply the next batch at once, so the page can say whether it moved or failed again;
        the rest is left to the workers."""
        runner.run_some(state.name, generation=state.generation, max_batches=1)
        staleness.forget()  # the page this answers shows the banner as it is now
        state.refresh_from_db()
        if state.error_position is not None:
            self.message_user(
                request,
                f"Projection {state.name}: {done}, but it failed again — {state.last_error}",
                messages.ERROR,
            )
            return
        if not state.active:  # a rebuild's generation: nothing continues it in the background
            self.message_user(
                request,
                f"Projection {state.name}: {done}; run the rebuild again to finish it "
                f"(it resumes from event {state.position:,}).",
                messages.SUCCESS,
            )
            return
        wake_projections()
        self.message_user(
            request,
            f"Projection {state.name}: {done}; it is moving again (head {head_position():,}).",
            messages.SUCCESS,
        )


@admin.register(ProjectionSkip)
class ProjectionSkipAdmin(ReadOnlyAdmin):
    list_display = ("name", "skipped_event", "event_type", "actor", "reason", "skipped")
    list_filter = ("name",)
    search_fields = ("=name", "=actor")
    show_facets = admin.ShowFacets.NEVER

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"title": "Skipped events", **(extra_context or {})}
        return super().changelist_view(request, context)

    @admin.display(description="event")
    def skipped_event(self, skip: ProjectionSkip) -> SafeString:
        return event_link(skip.position)

    @admin.display(description="skipped", ordering="skipped_at")
    def skipped(self, skip: ProjectionSkip) -> str:
        return moment(skip.skipped_at)
