"""The read side's HTTP base: every query checks its parameters, waits for the asked-for log
position (read-your-writes), then answers; and the projections' own status endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http.consistency import (
    CONSISTENCY_PARAMETERS,
    CONSISTENCY_QUERY_PARAMS,
    min_position_of,
    with_consistency,
)
from common.http.errors import ApiError, ValidationFailed, error_response, error_responses
from projections.engine.consistency import wait_for
from projections.engine.generations import GenerationMissing
from projections.engine.status import projection_status_list

logger = logging.getLogger(__name__)


class QueryView(APIView):
    """Reads need any authenticated user (the default permission)."""

    allowed_params: frozenset[str] = frozenset()

    def query_params(self, request: Request) -> dict[str, str]:
        """The request's own query parameters; 400 for any this view does not know."""
        params = request.query_params.dict()
        unknown = set(params) - self.allowed_params - CONSISTENCY_QUERY_PARAMS - {"format"}
        if unknown:
            raise ValidationFailed(
                "Unknown query parameters.",
                details={name: ["Unknown parameter."] for name in sorted(unknown)},
            )
        return {k: v for k, v in params.items() if k in self.allowed_params}

    def answer(self, request: Request, feeds: Sequence[str], read: Callable[[], Any]) -> Response:
        """Wait until ``feeds`` have applied the request's min_position (if any), then ``read``.

        Call it once the query's own parameters are validated: a bad request is refused at
        once, not after waiting.
        """
        fresh = wait_for(min_position_of(request), feeds)
        try:
            data = read()
        except GenerationMissing as exc:
            logger.error("%s", exc)  # the operator's fix is in the message
            raise ApiError(
                f"The read model {exc.name} is not set up.",
                code="service_unavailable",
                status_code=503,
            ) from exc
        except ApiError as exc:
            # The error answer still says how fresh the read model it came from was.
            response = error_response(exc.status_code, exc.code, exc.message, exc.details)
            return with_consistency(response, fresh)
        return with_consistency(Response(data), fresh)


class ProjectionsView(QueryView):
    @extend_schema(
        operation_id="list_projections",
        parameters=CONSISTENCY_PARAMETERS,
        responses={
            200: inline_serializer(
                "ProjectionStatus",
                {
                    "name": serializers.CharField(),
                    "position": serializers.IntegerField(),
                    "head_position": serializers.IntegerField(),
                    "lag_events": serializers.IntegerField(),
                    "lag_seconds": serializers.FloatField(),
                    "status": serializers.ChoiceField(
                        choices=["running", "stalled", "failed", "rebuilding"]
                    ),
                    "last_error": serializers.CharField(allow_null=True),
                    "updated_at": serializers.DateTimeField(),
                    "shards": inline_serializer(
                        "ProjectionShardStatus",
                        {
                            "index": serializers.IntegerField(),
                            "position": serializers.IntegerField(),
                            "lag_events": serializers.IntegerField(),
                            "status": serializers.ChoiceField(
                                choices=["running", "stalled", "failed", "rebuilding"]
                            ),
                        },
                        many=True,
                    ),
                },
                many=True,
            ),
            **error_responses(),
        },
    )
    def get(self, request: Request) -> Response:
        self.query_params(request)
        return self.answer(request, (), _contract_rows)


_ROW: Final = (
    "name",
    "position",
    "head_position",
    "lag_events",
    "lag_seconds",
    "status",
    "last_error",
    "updated_at",
)
_SHARD: Final = ("index", "position", "lag_events", "status")


def _contract_rows() -> list[dict[str, Any]]:
    """projection_status_list as the contract has it (the owners are for operators)."""
    return [
        {
            **{key: row[key] for key in _ROW},
            "shards": [{key: shard[key] for key in _SHARD} for shard in row["shards"]],
        }
        for row in projection_status_list()
    ]
