"""Reads that need only the log: an order's history, and its state at a version or a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.http.consistency import CONSISTENCY_PARAMETERS, MinPosition
from common.http.errors import error_responses
from common.http.fields import validated
from common.http.queries import QueryView
from eventstore.store import wait_for_commit
from orders.api.serializers import OrderStateQuery, OrderViewOut
from orders.http import domain_errors_as_api_errors, parse_order_id
from orders.selectors import order_history_get, order_state_get


class HistoryEventOut(serializers.Serializer[Any]):
    """One event of an order's stream, as the history endpoint shows it."""

    position = serializers.IntegerField(source="global_position")
    version = serializers.IntegerField()
    event_type = serializers.CharField()
    schema_version = serializers.IntegerField()
    data = serializers.DictField()  # type: ignore[assignment]  # a field, not Serializer.data
    metadata = serializers.DictField()
    recorded_at = serializers.DateTimeField()


class LogQueryView(QueryView):
    """A read of the log itself: min_position waits only until that event is committed."""

    def wait(self, demand: MinPosition, feeds: Sequence[str]) -> str:
        return wait_for_commit(demand.position, demand.timeout)

    def answer_from_log(self, request: Request, read: Callable[[], Any]) -> Response:
        def guarded() -> Any:
            with domain_errors_as_api_errors():
                return read()

        return self.answer(request, (), guarded)


class OrderHistoryView(LogQueryView):
    @extend_schema(
        operation_id="order_history",
        parameters=CONSISTENCY_PARAMETERS,
        responses={200: HistoryEventOut(many=True), **error_responses(404)},
    )
    def get(self, request: Request, order_id: str) -> Response:
        order_uuid = parse_order_id(order_id)
        self.query_params(request)
        return self.answer_from_log(
            request, lambda: HistoryEventOut(order_history_get(order_uuid), many=True).data
        )


class OrderStateView(LogQueryView):
    allowed_params = frozenset(OrderStateQuery().fields)

    @extend_schema(
        operation_id="order_state",
        parameters=[OrderStateQuery, *CONSISTENCY_PARAMETERS],
        responses={200: OrderViewOut, **error_responses(404, 409)},
    )
    def get(self, request: Request, order_id: str) -> Response:
        order_uuid = parse_order_id(order_id)
        query = validated(OrderStateQuery, self.query_params(request))
        response = self.answer_from_log(
            request,
            lambda: (
                OrderViewOut(
                    order_state_get(order_uuid, version=query.get("version"), at=query.get("at"))
                ).data
            ),
        )
        if response.status_code == 200:
            response["ETag"] = f'"{response.data["version"]}"'
        return response
