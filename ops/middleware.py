"""Middleware: the probe endpoints, and each request's ids, log line and latency."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from structlog.contextvars import bind_contextvars, clear_contextvars

from common.metrics import HTTP_REQUEST_SECONDS
from ops import metrics, probes

logger = logging.getLogger("ops.requests")

Handler = Callable[[HttpRequest], HttpResponse]

PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": probes.healthz,
    "/readyz": probes.readyz,
    "/metrics": metrics.metrics_view,
}
# A client's own id for its request is kept if it looks like one (it ends up in every line).
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# What the command API accepts as a correlation id (anything else is answered 400 there).
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,255}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


class ProbeMiddleware:
    """Answers GET /healthz, /readyz and /metrics before anything else runs.

    Before the host check and the HTTPS redirect on purpose: load balancers, orchestrators and
    Prometheus call these by address over plain HTTP. Not logged, not timed: they would drown
    the requests that matter.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info.rstrip("/"))
        if probe is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        return probe(request)


class RequestObservationMiddleware:
    """Gives each request an id, binds it and the correlation id to every log line written
    while it runs, then logs one line for the request and times it by route and status."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = _client_id(request.META.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        # Made up here when the client sent none, so that the command stores the same id that
        # every line of this request carries (read from META: request.headers is cached).
        correlation_id = request.META.setdefault("HTTP_X_CORRELATION_ID", str(uuid.uuid4()))
        clear_contextvars()  # a thread serves many requests: nothing of the last one stays
        bind_contextvars(request_id=request_id)
        if _HEADER_VALUE.fullmatch(correlation_id):
            bind_contextvars(correlation_id=correlation_id)
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            route = _route(request)
            method = request.method if request.method in _METHODS else "other"
            HTTP_REQUEST_SECONDS.labels(method, route, response.status_code).observe(elapsed)
            response["X-Request-ID"] = request_id
            fields = {
                "method": method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
            }
            logger.info("%s %s %s", method, request.path, response.status_code, extra=fields)
            return response
        finally:
            clear_contextvars()


def _client_id(value: str | None) -> str | None:
    return value if value and _CLIENT_ID.fullmatch(value) else None


def _route(request: HttpRequest) -> str:
    """The URL pattern that served the request (bounded label values), not its path."""
    match = request.resolver_match
    if match is None:
        return "static" if request.path.startswith("/static/") else "unmatched"
    route = match.route.replace("^", "").replace("$", "").replace("/?", "")
    return "/" + _GROUP.sub(r"{\1}", route)
