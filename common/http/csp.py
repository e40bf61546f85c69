"""A Content-Security-Policy on every answer: pages (the admin, the API docs) load scripts,
styles, images and fonts from this site only, run no inline script or style, and are never
framed; JSON answers load nothing at all.

The admin's and the back office's templates have no inline script or style; the API docs
take their script and styles from files (templates/drf_spectacular/swagger_ui.html). Icons in
the admin's and Swagger UI's style sheets are ``data:`` images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from django.http import HttpRequest, HttpResponse

POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADER: Final = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(HEADER, POLICY)
        return response
