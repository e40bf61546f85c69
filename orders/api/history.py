"""Reads that need only the log: an order's history, and its state at a version or a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.http.consistency import CONSISTENCY_PARAMETERS, MinPosition
from common.http.errors import error_responses
from common.http.fields import validated
from common.http.queries import QueryView
from common.http.renderers import PlainJSONRenderer
from eventstore.store import RecordedEvent, wait_for_commit
from orders.api.serializers import (
    HISTORY_PAGE_MAX,
    OrderHistoryQuery,
    OrderStateQuery,
    OrderViewOut,
)
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
    allowed_params = frozenset(OrderHistoryQuery().fields)
    renderer_classes = [PlainJSONRenderer]  # pages of up to 1,000 events

    @extend_schema(
        operation_id="order_history",
        parameters=[
            OrderHistoryQuery,
            *CONSISTENCY_PARAMETERS,
            OpenApiParameter(
                "Link",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description='When more events follow: `<...?from_version=W&limit=N>; rel="next"`.',
            ),
        ],
        responses={200: HistoryEventOut(many=True), **error_responses(404)},
    )
    def get(self, request: Request, order_id: str) -> Response:
        order_uuid = parse_order_id(order_id)
        query = validated(OrderHistoryQuery, self.query_params(request))
        from_version = query.get("from_version", 1)
        limit = query.get("limit", HISTORY_PAGE_MAX)
        next_version: list[int | None] = [None]

        def read() -> Any:
            page = order_history_get(order_uuid, from_version=from_version, limit=limit)
            next_version[0] = page.next_version
            zone = timezone.get_current_timezone()  # once a page, not once an event
            return [history_event(e, zone) for e in page.events]

        response = self.answer_from_log(request, read)
        if response.status_code == 200 and next_version[0] is not None:
            query_string = urlencode({"from_version": next_version[0], "limit": limit})
            url = request.build_absolute_uri(f"{request.path}?{query_string}")
            response["Link"] = f'<{url}>; rel="next"'
        return response


def history_event(event: RecordedEvent, zone: tzinfo) -> dict[str, Any]:
    """An event as the history answers it: HistoryEventOut's fields, written as its serializer
    writes them (DRF's timestamps: in the current time zone, UTC as "Z"), without the
    serializer's cost per field (a page holds up to a thousand events)."""
    recorded_at = event.recorded_at.astimezone(zone).isoformat()
    if recorded_at.endswith("+00:00"):
        recorded_at = recorded_at[:-6] + "Z"
    return {
        "position": event.global_position,
        "version": event.version,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": recorded_at,
    }


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
