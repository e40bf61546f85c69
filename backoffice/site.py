"""The admin site of the back office: a dashboard as its index, and stream timelines."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from backoffice import dashboard, streams


class BackOfficeSite(admin.AdminSite):
    site_header = "Order service · back office"
    site_title = "Back office"
    index_title = "Dashboard"
    # The lists need the width (long ids, filters on the right): breadcrumbs and the index
    # lead everywhere instead.
    enable_nav_sidebar = False

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [
            path(
                "streams/<path:stream_id>/",
                self.admin_view(self.timeline_view),
                name="stream-timeline",
            )
        ]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = dict(extra_context or {})
        if request.user.has_perm("projections.view_dailysales"):
            context["dashboard"] = dashboard.figures()
        return super().index(request, context)

    def timeline_view(self, request: HttpRequest, stream_id: str) -> TemplateResponse:
        return streams.timeline_view(self, request, stream_id)
