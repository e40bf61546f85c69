"""The back office's own pages (besides the models' lists): a section's index, a stream's
timeline, the streams lately changed. The site wires them (backoffice.site)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from backoffice import eventlog, navigation, streams
from backoffice.display import moment


def may_view_stream(user: Any, stream_id: str) -> bool:
    """The log's staff see every stream; those who see orders see an order's own timeline."""
    if user.has_perm("eventstore.view_event"):
        return True
    return streams.order_id_of(stream_id) is not None and user.has_perm(
        "projections.view_orderview"
    )


def version_asked(request: HttpRequest, name: str) -> int | None:
    """A version number given in the query string (None when absent or not a number)."""
    raw = request.GET.get(name, "").strip().replace(",", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def section_view(site: admin.AdminSite, request: HttpRequest, slug: str) -> TemplateResponse:
    apps = site._build_app_dict(request)
    found = navigation.app_list(apps, request.user, only=slug)
    if not found:
        raise Http404("There is no such section, or your role sees none of its pages.")
    context = {
        **site.each_context(request),
        "title": found[0]["name"],
        "subtitle": None,
        "app_list": found,
        "app_label": slug,
    }
    return TemplateResponse(request, "admin/app_index.html", context)


def timeline_view(site: admin.AdminSite, request: HttpRequest, stream_id: str) -> TemplateResponse:
    if not may_view_stream(request.user, stream_id):
        raise PermissionDenied
    page = streams.timeline_page(stream_id, version_asked(request, "to"))
    if page is None:
        raise Http404(f"There is no stream {stream_id!r} in the log.")
    version = version_asked(request, "version")
    as_of: streams.State | None = None
    as_of_error = ""
    if page.order_id is not None and version is not None:
        if not 1 <= version <= page.window.last:
            as_of_error = f"The order has versions 1 to {page.window.last:,}."
        else:
            try:
                as_of = streams.order_state(streams.order_at(page.order_id, stream_id, version))
            except Exception as exc:  # a payload that does not fold, as on the timeline
                as_of_error = f"{type(exc).__name__}: {exc}"
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": f"Timeline of order {page.order_id}"
        if page.order_id
        else f"Timeline of {stream_id}",
        "stream_id": stream_id,
        "page": page,
        "window": page.window,
        "version": version,
        "as_of": as_of,
        "as_of_error": as_of_error,
        "may_view_log": request.user.has_perm("eventstore.view_event"),
        "may_view_order": request.user.has_perm("projections.view_orderview"),
    }
    return TemplateResponse(request, "backoffice/timeline.html", context)


def streams_view(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    """Find a stream by its id (or an order's bare id), or pick one lately changed."""
    if not request.user.has_perm("eventstore.view_event"):
        raise PermissionDenied
    term = request.GET.get("q", "").strip()
    if term:
        for stream_id in eventlog.stream_ids_of(term):
            if streams.window(stream_id, None) is not None:
                return HttpResponseRedirect(reverse("admin:stream-timeline", args=[stream_id]))
    stream_type = request.GET.get("type", "")
    types = eventlog.distinct_values("stream_type")
    rows = streams.recent_streams(stream_type=stream_type if stream_type in types else "")
    context = {
        **site.each_context(request),
        "title": "Streams",
        "term": term,
        "not_found": bool(term),
        "types": types,
        "stream_type": stream_type,
        "rows": [(row, moment(row.recorded_at)) for row in rows],
        "recent_events": streams.RECENT_EVENTS,
    }
    return TemplateResponse(request, "backoffice/streams.html", context)
