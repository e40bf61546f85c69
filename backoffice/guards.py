"""What every back office page answers before and around its view: a request no page can use
(a NUL byte) is a 400, and "not found" or "not allowed" is a page of the back office, in its
frame, with a way back (never the API's JSON).

A NUL byte cannot reach PostgreSQL (text columns refuse it: the query fails), and no id,
filter value or search term of any page contains one. Refusing it here, once for every admin
view, keeps each filter, search box and URL of every page from having to remember it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse

View = Callable[..., HttpResponse]

NUL = "\x00"


def unusable_part(request: HttpRequest) -> str | None:
    """Where the request carries a NUL byte (its path, a parameter's name or value), if it does."""
    if NUL in request.path:
        return "the address"
    for data in (request.GET, request.POST):
        for name, values in data.lists():
            if NUL in name or any(NUL in value for value in values):
                return f"the parameter {name.replace(NUL, '?')!r}"
    return None


def problem_page(
    site: admin.AdminSite, request: HttpRequest, status: int, title: str, message: str
) -> TemplateResponse:
    """A page of the back office saying what went wrong, with the given HTTP status."""
    context = {**site.each_context(request), "title": title, "message": message}
    return TemplateResponse(request, "backoffice/problem.html", context, status=status)


def refuse_unusable(site: admin.AdminSite, request: HttpRequest) -> TemplateResponse | None:
    part = unusable_part(request)
    if part is None:
        return None
    return problem_page(
        site,
        request,
        400,
        "Bad request",
        f"{part[0].upper()}{part[1:]} holds a NUL character, which no search, filter or id "
        "can use.",
    )


def guarded(site: admin.AdminSite, view: View) -> View:
    """``view`` behind the NUL check, with Http404 and PermissionDenied as back office pages."""

    @wraps(view)
    def guarded_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refusal = refuse_unusable(site, request)
        if refusal is not None:
            return refusal
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return problem_page(site, request, 404, "Not found", _said(exc, request))
        except PermissionDenied:
            return problem_page(
                site,
                request,
                403,
                "Not allowed",
                "Your role may not see or do this. If your work needs it, ask an administrator "
                "for the role that does (README: roles).",
            )

    return guarded_view


def _said(exc: Http404, request: HttpRequest) -> str:
    """The 404's own words when it has some (the pages of the back office say what is missing)."""
    return str(exc) or f"There is no page at {request.path}."
