"""The HTTP base of every query: check the parameters, honour read-your-writes, answer.

A query first refuses parameters it does not know, then (if the request asks for a
min_position) waits, bounded, until what feeds it has applied that position, then reads. What
"applied" means is the subclass's ``wait``: the log itself (the event store), or projections'
checkpoints (the projection engine). The read runs with ``common.routing.replica_reads`` on,
so that with a replica configured the read models are read there (the wait then reads the
checkpoints there too: read-your-writes as the replica sees it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http.consistency import (
    CONSISTENCY_QUERY_PARAMS,
    MinPosition,
    min_position_of,
    with_consistency,
)
from common.http.errors import ApiError, ValidationFailed, error_response
from common.metrics import CONSISTENCY_WAITS
from common.routing import replica_reads
from common.waits import FRESH


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

    def wait(self, demand: MinPosition, feeds: Sequence[str]) -> str:
        """Wait (bounded) until ``feeds`` (the log itself when empty) applied the demanded
        position; one of common.waits' outcomes."""
        raise NotImplementedError

    def answer(self, request: Request, feeds: Sequence[str], read: Callable[[], Any]) -> Response:
        """Wait until ``feeds`` have applied the request's min_position (if any), then ``read``.

        Call it once the query's own parameters are validated: a bad request is refused at
        once, not after waiting.
        """
        demand = min_position_of(request)
        with replica_reads():
            fresh: bool | None = None
            if demand is not None:
                outcome = self.wait(demand, feeds)
                CONSISTENCY_WAITS.labels(outcome).inc()
                fresh = outcome == FRESH
            try:
                data = read()
            except ApiError as exc:
                # The error answer still says how fresh the read model it came from was.
                response = error_response(exc.status_code, exc.code, exc.message, exc.details)
                return with_consistency(response, fresh)
        return with_consistency(Response(data), fresh)
