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

from common.http.consistency import CONSISTENCY_PARAMETERS, MinPosition
from common.http.errors import ApiError, error_responses
from common.http.queries import QueryView as BaseQueryView
from projections.engine.consistency import wait_outcome
from projections.engine.generations import GenerationMissing
from projections.engine.status import projection_status_list

logger = logging.getLogger(__name__)


class QueryView(BaseQueryView):
    """A query answered from read models: min_position waits for their checkpoints; a read
    model that is not set up answers 503."""

    def wait(self, demand: MinPosition, feeds: Sequence[str]) -> str:
        return wait_outcome(feeds, demand.position, demand.timeout)

    def answer(self, request: Request, feeds: Sequence[str], read: Callable[[], Any]) -> Response:
        def guarded() -> Any:
            try:
                return read()
            except GenerationMissing as exc:
                logger.error("%s", exc)  # the operator's fix is in the message
                raise ApiError(
                    f"The read model {exc.name} is not set up.",
                    code="service_unavailable",
                    status_code=503,
                ) from exc

        return super().answer(request, feeds, guarded)


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
