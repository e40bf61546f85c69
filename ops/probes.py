"""Liveness and readiness: is the process up, and can it serve what it is asked right now?

Readiness checks the database, the broker and the projections (none failed, none further behind
than READY_MAX_LAG_SECONDS). Bodies name the parts and their state, never an address or error.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from kombu.exceptions import OperationalError

from common.http.errors import error_body
from projections.engine.status import projection_status_list

logger = logging.getLogger(__name__)

OK = "ok"
BROKER_TIMEOUT_SECONDS = 2


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else (a restart would not fix those)."""
    return JsonResponse({"status": OK})


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Any] = {"database": _database(), "broker": _broker()}
    checks["projections"] = _projections() if checks["database"] == OK else "unknown"
    failed = [part for part, state in checks.items() if not _ok(state)]
    if not failed:
        return JsonResponse({"status": "ready", "checks": checks})
    message = f"Not ready: {', '.join(failed)}."
    return JsonResponse(error_body("not_ready", message, checks), status=503)


def _ok(state: Any) -> bool:
    if isinstance(state, dict):
        return all(value == OK for value in state.values())
    return state in (OK, "eager")


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.warning("readiness: database unreachable", exc_info=True)
        return "unreachable"
    return OK


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"  # the embedded default: tasks run in-process, there is no broker
    conn = current_app.connection_for_write()
    try:
        conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    except (OperationalError, *conn.connection_errors):  # type: ignore[misc]
        logger.warning("readiness: broker unreachable", exc_info=True)
        return "unreachable"
    finally:
        conn.release()
    return OK


def _projections() -> dict[str, str] | str:
    max_lag = settings.READY_MAX_LAG_SECONDS
    try:
        statuses = projection_status_list()
    except DatabaseError:
        logger.warning("readiness: projection status unavailable", exc_info=True)
        return "unknown"
    result = {}
    for status in statuses:
        if status["status"] == "failed":
            result[status["name"]] = "failed"
        elif status["lag_seconds"] > max_lag:
            result[status["name"]] = f"lagging {status['lag_seconds']:.0f} s > {max_lag:.0f} s"
        else:
            result[status["name"]] = OK
    return result
