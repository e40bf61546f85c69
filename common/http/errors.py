"""The one error shape of every API answer, and the exception handler that produces it.

It knows only "an error with a status and a code" (ApiError), DRF's own errors and database
failures; each app turns its own errors into ApiErrors at its edge (e.g. orders.http).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import DataError, InterfaceError, InternalError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.db import database_unavailable

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered in the contract's shape: an HTTP status, a snake_case code, a message
    and details. Subclasses fix the status and code of a kind of error (ValidationFailed)."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class ValidationFailed(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "validation_error"


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def error_response(
    status_code: int, code: str, message: str, details: Mapping[str, Any] | None = None
) -> Response:
    return Response(error_body(code, message, details), status=status_code)


_DRF_CODES = {
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """Translate every exception a view can raise into the contract's error shape."""
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.code, exc.message, exc.details)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        return error_response(503, "service_unavailable", "The database cannot be reached.")
    if isinstance(exc, InternalError) and database_unavailable(exc):  # read-only
        logger.warning("database read-only: %s", exc)
        return error_response(503, "service_unavailable", "The database accepts no writes now.")
    if isinstance(exc, DataError):
        # A value the checks let through but the database cannot hold: the request's fault,
        # not an outage (monitoring must never see a fake 503).
        logger.error("value refused by the database: %s", exc)
        return error_response(400, "validation_error", "A value of the request is out of range.")
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_response(400, "validation_error", "The request is invalid.", details)
    if isinstance(exc, exceptions.ParseError):
        return error_response(400, "validation_error", str(exc.detail), {"body": [str(exc.detail)]})
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response = drf_exception_handler(exc, dict(context))
        if response is not None:
            response.data = error_body("not_authenticated", str(exc.detail))
        return response
    response = drf_exception_handler(exc, dict(context))
    if response is not None:
        code = _DRF_CODES.get(response.status_code, "error")
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, str(detail))
        return response
    return None  # anything else is a bug: Django logs it and answers json_server_error


@csrf_exempt  # an unknown path is a 404 whatever the method, not a CSRF failure
def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 404 handler: JSON in the contract's shape under /api/, a plain page elsewhere."""
    return JsonResponse(error_body("not_found", f"No endpoint at {request.path}."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("internal_error", "Unexpected server error."), status=500)


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorSerializer(serializers.Serializer[Any]):
    """The one error shape of every endpoint (documented in the OpenAPI schema)."""

    error = ErrorDetailSerializer()


def error_responses(*statuses: int) -> dict[int, Any]:
    """OpenAPI responses for the given error statuses (400, 401, 429 and 503 always)."""
    return dict.fromkeys(sorted({*statuses, 400, 401, 429, 503}), ErrorSerializer)
