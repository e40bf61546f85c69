"""Liveness and readiness: is the process up, and can this instance serve right now?

Readiness is about this instance only: its database answers and takes writes, and every
migration it needs is applied. A load balancer drops an instance that is not ready, so what
is not this instance's to fix must not make it unready: the broker (commands do not need it:
wake-ups fall back to beat's sweep) and the projections (a read-side problem would take every
web instance down, and commands with them). Their state stays in the body, in /metrics and in
the alert rules (ops/alerts.yml). Bodies name the parts and their state, never an address or
an error.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse

from common.http.errors import error_body
from ops import checks
from projections.engine.status import projection_status_list

logger = logging.getLogger(__name__)

# What decides readiness; the other checks are reported only.
DECIDING = ("database", "migrations")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else (a restart would not fix those)."""
    return JsonResponse({"status": checks.OK})


def readyz(request: HttpRequest) -> JsonResponse:
    database = checks.database()
    reachable = database != checks.UNREACHABLE
    statuses = _statuses() if reachable else None
    report: dict[str, Any] = {
        "database": database,
        "migrations": checks.migrations() if reachable else checks.UNKNOWN,
        "broker": checks.broker(),
        "projections": checks.UNKNOWN if statuses is None else _projections(statuses),
    }
    if reachable:
        report["projection_shards"] = checks.UNKNOWN if statuses is None else _shards(statuses)
    if all(report[part] == checks.OK for part in DECIDING):
        return JsonResponse({"status": "ready", "checks": report})
    # Named: what failed; what could not be asked because of it is "unknown" in the details.
    failed = [part for part in DECIDING if report[part] not in (checks.OK, checks.UNKNOWN)]
    failed = failed or [part for part in DECIDING if report[part] != checks.OK]
    message = f"Not ready: {', '.join(failed)}."
    return JsonResponse(error_body("not_ready", message, report), status=503)


def _statuses() -> list[dict[str, Any]] | None:
    """The projections' status, read once for the report (None: the database would not say)."""
    try:
        return projection_status_list()
    except DatabaseError:
        logger.warning("readiness: projection status unavailable", exc_info=True)
        return None


def _shards(statuses: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each shard's position, lag and owner (reported, never deciding)."""
    return {
        status["name"]: [
            {
                "index": shard["index"],
                "position": shard["position"],
                "lag_events": shard["lag_events"],
                "owner": shard["owner"],
            }
            for shard in status["shards"]
        ]
        for status in statuses
    }


def _projections(statuses: list[dict[str, Any]]) -> dict[str, str]:
    """Each projection's state: ``ok``, ``failed``, or ``lagging`` when its oldest unapplied
    event is older than READY_MAX_LAG_SECONDS (reported, never deciding)."""
    max_lag = settings.READY_MAX_LAG_SECONDS
    result = {}
    for status in statuses:
        if status["status"] == "failed":
            result[status["name"]] = "failed"
        elif status["lag_seconds"] > max_lag:
            result[status["name"]] = f"lagging {status['lag_seconds']:.0f} s > {max_lag:.0f} s"
        else:
            result[status["name"]] = checks.OK
    return result
