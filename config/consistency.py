"""Read-your-writes at the HTTP edge: min_position / X-Min-Position and consistency_timeout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.serializers import validated
from projections.consistency import wait_until_applied

MAX_CONSISTENCY_TIMEOUT = 30.0
DEFAULT_CONSISTENCY_TIMEOUT = 5.0

CONSISTENCY_PARAMETERS = [
    OpenApiParameter(
        "min_position",
        int,
        OpenApiParameter.QUERY,
        required=False,
        description="Wait until what feeds this endpoint has applied this log position (also "
        "as header X-Min-Position). The answer then carries X-Consistency: fresh or stale.",
    ),
    OpenApiParameter(
        "consistency_timeout",
        float,
        OpenApiParameter.QUERY,
        required=False,
        description="Seconds to wait for min_position (default 5, at most 30).",
    ),
]
CONSISTENCY_QUERY_PARAMS = frozenset({"min_position", "consistency_timeout"})


class ConsistencyParams(serializers.Serializer[Any]):
    min_position = serializers.IntegerField(min_value=0, required=False)
    consistency_timeout = serializers.FloatField(
        min_value=0, max_value=MAX_CONSISTENCY_TIMEOUT, required=False
    )


def wait_for_consistency(request: Request, feeds: Sequence[str]) -> str | None:
    """Honour min_position for an endpoint fed by ``feeds`` (the log itself when empty).

    Returns the X-Consistency value to send, or None when no min_position was asked for.
    """
    raw: dict[str, Any] = {
        k: request.query_params[k] for k in CONSISTENCY_QUERY_PARAMS if k in request.query_params
    }
    if "min_position" not in raw and "X-Min-Position" in request.headers:
        raw["min_position"] = request.headers["X-Min-Position"]
    params = validated(ConsistencyParams, raw)
    if "min_position" not in params:
        return None
    timeout = params.get("consistency_timeout", DEFAULT_CONSISTENCY_TIMEOUT)
    fresh = wait_until_applied(feeds, params["min_position"], timeout)
    return "fresh" if fresh else "stale"


def with_consistency(response: Response, consistency: str | None) -> Response:
    if consistency is not None:
        response["X-Consistency"] = consistency
    return response
