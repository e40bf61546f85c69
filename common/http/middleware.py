"""Every answer under /api/ in the contract's error shape, also those Django gives itself.

Django answers some requests before any view runs, in HTML: a body over
DATA_UPLOAD_MAX_MEMORY_SIZE or a disallowed Host (400), a CSRF failure (403), a crash (500).
This middleware, outermost, puts such answers into the error shape, keeping their status.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from common.http.errors import error_body

_CODES = {
    400: ("bad_request", "The request is malformed or too large."),
    403: ("permission_denied", "The request was refused."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("bad_request", "The request is too large."),
    429: ("throttled", "Too many requests."),
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path_info.startswith("/api/")
            or "json" in response.get("Content-Type", "")  # already ours (JSON, OpenAPI JSON)
        ):
            return response
        code, message = _CODES.get(response.status_code, ("internal_error", "Unexpected error."))
        return JsonResponse(error_body(code, message), status=response.status_code)
