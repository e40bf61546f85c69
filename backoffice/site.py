"""The admin site of the back office: pages filed by what staff do, a first page for each
role, stream timelines, a staff member's own API token, and on every page the guards
(backoffice.guards) and the banner saying what is out of date (backoffice.staleness)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse

from backoffice import dashboard, guards, navigation, staleness, tokens, views


class BackOfficeSite(admin.AdminSite):
    site_header = "Order service · back office"
    site_title = "Back office"
    index_title = "Dashboard"
    site_url = None  # there is no public site: no "View site" link
    # The lists need the width (long ids, filters on the right): the sections' bar at the top
    # leads everywhere instead.
    enable_nav_sidebar = False

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Any:
        return super().admin_view(guards.guarded(self, view), cacheable)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return guards.refuse_unusable(self, request) or super().login(request, extra_context)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [
            path("section/<slug:slug>/", self.admin_view(self.section_view), name="section"),
            path("streams/", self.admin_view(self.streams_view), name="streams"),
            path(
                "streams/<path:stream_id>/",
                self.admin_view(self.timeline_view),
                name="stream-timeline",
            ),
            path("my-token/", self.admin_view(self.my_token_view), name="my-token"),
        ]
        return own + super().get_urls()

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context: dict[str, Any] = super().each_context(request)
        staff = context["has_permission"]
        context["stale"] = staleness.stale_projections() if staff else []
        context["may_view_projections"] = request.user.has_perm("projections.view_projectionstate")
        # Webhooks and subscribers in trouble: for the staff who look after them.
        watches = any(
            request.user.has_perm(p)
            for p in ("integrations.view_webhook", "integrations.view_subscriberstate")
        )
        context["troubled_followers"] = staleness.troubled_followers() if staff and watches else []
        return context

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        return navigation.app_list(self._build_app_dict(request, app_label), request.user)

    def app_index(  # type: ignore[override]  # a redirect, not a page
        self, request: HttpRequest, app_label: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A Django app's page (``/admin/projections/``): its models live in sections now."""
        return HttpResponseRedirect(reverse("admin:index"))

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {**(extra_context or {}), **dashboard.for_user(request.user)}
        return super().index(request, context)

    def section_view(self, request: HttpRequest, slug: str) -> TemplateResponse:
        return views.section_view(self, request, slug)

    def streams_view(self, request: HttpRequest) -> HttpResponse:
        return views.streams_view(self, request)

    def timeline_view(self, request: HttpRequest, stream_id: str) -> TemplateResponse:
        return views.timeline_view(self, request, stream_id)

    def my_token_view(self, request: HttpRequest) -> HttpResponse:
        return tokens.my_token_view(self, request)
