"""GET /api/events: the feed's HTTP edge (the contract's "Following the log").

It checks the permission and the parameters, turns a bad cursor into 400 invalid_cursor, and
answers eventstore.feed's page. Events are written by orjson from plain dicts rather than
through a serializer and DRF's renderer (a page holds up to 1,000 of them; measured in
docs/benchmarks.md, "Following the log"); EventOut documents them, and the tests check every
answer against the served schema.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from common.http.errors import ApiError, ValidationFailed, error_responses
from common.http.fields import QueryIntegerField, QueryNumberField, validated
from eventstore.feed import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    MAX_WAIT_SECONDS,
    Filters,
    InvalidCursor,
    encode_cursor,
    feed_page,
    start_of,
)
from eventstore.store import RecordedEvent

READ_EVENTS: Final = "eventstore.read_events"
# A filter names at most this many types, each as long as the log's column allows.
MAX_TYPES: Final = 50
MAX_TYPE_LENGTH: Final = 100


class CanReadEvents(permissions.BasePermission):
    message = f"You need the permission {READ_EVENTS} to read the event feed."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm(READ_EVENTS))


class TypeListField(serializers.CharField):
    """A comma-separated list of names (event or stream types)."""

    def to_internal_value(self, data: Any) -> list[str]:  # type: ignore[override]
        text = str(super().to_internal_value(data))
        names = [name.strip() for name in text.split(",")]
        if any(not name for name in names):
            raise serializers.ValidationError("Comma-separated names, none empty.")
        if len(names) > MAX_TYPES:
            raise serializers.ValidationError(f"At most {MAX_TYPES} names.")
        if any(len(name) > MAX_TYPE_LENGTH or "\x00" in name for name in names):
            raise serializers.ValidationError(
                f"Each name at most {MAX_TYPE_LENGTH} characters, no null character."
            )
        return names


class FeedQuery(serializers.Serializer[Any]):
    after = serializers.CharField(
        required=False,
        max_length=MAX_CURSOR_LENGTH,
        help_text="Where to read on from: the `next` of the previous answer (opaque), or `now` "
        "for the current end of the log. Without it, the first event.",
    )
    limit = QueryIntegerField(
        min_value=1,
        max_value=MAX_LIMIT,
        required=False,
        help_text=f"At most this many events (1..{MAX_LIMIT}, default {DEFAULT_LIMIT}).",
    )
    wait = QueryNumberField(
        min_value=0,
        max_value=MAX_WAIT_SECONDS,
        required=False,
        help_text="With no event after the cursor, wait up to this many seconds for one "
        "(0..30, default 0); then answer no events and the same cursor.",
    )
    event_type = TypeListField(
        required=False,
        help_text="Only events of these types (comma-separated); the cursor still moves past "
        "the others.",
    )
    stream_type = TypeListField(
        required=False,
        help_text="Only events of streams of these types (comma-separated), e.g. Order.",
    )


_QUERY_PARAMS: Final = frozenset(FeedQuery().fields) | {"format"}


class EventOut(serializers.Serializer[Any]):
    """One event of the log, upcast to its type's current schema version."""

    event_id = serializers.UUIDField()
    stream_id = serializers.CharField()
    stream_type = serializers.CharField()
    version = serializers.IntegerField()
    position = serializers.IntegerField()
    event_type = serializers.CharField()
    schema_version = serializers.IntegerField()
    data = serializers.DictField()  # type: ignore[assignment]  # a field, not Serializer.data
    metadata = serializers.DictField()
    recorded_at = serializers.DateTimeField()


class FeedPageOut(serializers.Serializer[Any]):
    events = EventOut(many=True)
    next = serializers.CharField(
        help_text="The cursor to send back as `after` to read on (opaque)."
    )


def _event(event: RecordedEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "stream_id": event.stream_id,
        "stream_type": event.stream_type,
        "version": event.version,
        "position": event.global_position,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at,
    }


def _json(body: dict[str, Any]) -> HttpResponse:
    """``body`` as JSON, by orjson (UUIDs as text, times as DRF writes them, UTC as Z): a
    fifth of the time DRF's renderer takes for a page of 1,000 events."""
    try:
        content = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits in a payload
        content = JSONRenderer().render(body)
    return HttpResponse(content, content_type="application/json")


class EventFeedView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanReadEvents]

    @extend_schema(
        operation_id="follow_events",
        summary="Follow the log",
        description="The log's events in an order safe to follow: a client that always sends "
        "back `next` as `after` sees every event exactly once, each stream's in version "
        "order, also while writers commit out of order. A cursor that is malformed, tampered "
        "with or from another database answers 400 `invalid_cursor`.",
        parameters=[FeedQuery],
        responses={200: FeedPageOut, **error_responses(403)},
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params.dict()
        unknown = set(params) - _QUERY_PARAMS
        if unknown:
            raise ValidationFailed(
                "Unknown query parameters.",
                details={name: ["Unknown parameter."] for name in sorted(unknown)},
            )
        params.pop("format", None)
        query = validated(FeedQuery, params)
        try:
            after = start_of(query.get("after"))
        except InvalidCursor as exc:
            raise ApiError(str(exc), code="invalid_cursor", details={"after": [str(exc)]}) from None
        page = feed_page(
            after,
            limit=query.get("limit", DEFAULT_LIMIT),
            wait=query.get("wait", 0.0),
            filters=Filters(query.get("event_type", ()), query.get("stream_type", ())),
        )
        return _json(
            {"events": [_event(e) for e in page.events], "next": encode_cursor(page.checkpoint)}
        )
