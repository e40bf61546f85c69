"""Read-your-writes at the HTTP edge: min_position / X-Min-Position and consistency_timeout.

This module reads and validates the request's parameters and writes the X-Consistency header;
waiting is the projection engine's (projections.engine.consistency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.http.fields import QueryIntegerField, QueryNumberField, validated

MAX_CONSISTENCY_TIMEOUT: Final = 30.0
DEFAULT_CONSISTENCY_TIMEOUT: Final = 5.0
MAX_POSITION: Final = 2**63 - 1  # the log's bigint positions


class ConsistencyParams(serializers.Serializer[Any]):
    min_position = QueryIntegerField(
        min_value=0,
        max_value=MAX_POSITION,
        required=False,
        help_text="Wait until what feeds this endpoint has applied this log position (also as "
        "header X-Min-Position). The answer then carries X-Consistency: fresh or stale.",
    )
    consistency_timeout = QueryNumberField(
        min_value=0,
        max_value=MAX_CONSISTENCY_TIMEOUT,
        required=False,
        help_text="Seconds to wait for min_position (default 5, at most 30).",
    )

    def validate_consistency_timeout(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError("A number of seconds, at most 30.")
        return value


# The parameters' OpenAPI description: drf-spectacular turns the serializer into them.
CONSISTENCY_PARAMETERS: Final = [ConsistencyParams]
CONSISTENCY_QUERY_PARAMS: Final = frozenset(ConsistencyParams().fields)


@dataclass(frozen=True, slots=True)
class MinPosition:
    """What a client asked for: answer once ``position`` is applied, waiting ``timeout`` s."""

    position: int
    timeout: float


def min_position_of(request: Request) -> MinPosition | None:
    """The request's read-your-writes demand (None without min_position); 400 if malformed."""
    raw: dict[str, Any] = {
        k: request.query_params[k] for k in CONSISTENCY_QUERY_PARAMS if k in request.query_params
    }
    if "min_position" not in raw and "X-Min-Position" in request.headers:
        raw["min_position"] = request.headers["X-Min-Position"]
    params = validated(ConsistencyParams, raw)
    if "min_position" not in params:
        return None
    return MinPosition(
        params["min_position"], params.get("consistency_timeout", DEFAULT_CONSISTENCY_TIMEOUT)
    )


def with_consistency(response: Response, fresh: bool | None) -> Response:
    """Say in X-Consistency whether the answer includes the asked-for position (if asked)."""
    if fresh is not None:
        response["X-Consistency"] = "fresh" if fresh else "stale"
    return response
