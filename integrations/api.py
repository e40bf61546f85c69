"""The webhooks API ("Following the log" in the contract): each view checks its input, calls
a service or a selector, and answers through the serializer that documents the answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Final

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http.errors import ApiError, ValidationFailed, error_responses
from common.http.fields import StrictCharField, StrictSerializer, validated
from common.http.pagination import PAGE_QUERY_PARAMS, ContractPagination
from integrations import addresses, selectors, services
from integrations.models import WebhookStatus

MANAGE: Final = "integrations.manage_webhooks"
EVENT_TYPE_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}\Z"
WEBHOOK_ERRORS: Final = error_responses(403, 404)


class CanManageWebhooks(permissions.BasePermission):
    message = f"You need the permission {MANAGE} to manage webhooks."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm(MANAGE))


class WebhookView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanManageWebhooks]
    allowed_params: frozenset[str] = frozenset()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        unknown = set(request.query_params) - self.allowed_params - {"format"}
        if unknown:
            raise ValidationFailed(
                "Unknown query parameters.",
                details={name: ["Unknown parameter."] for name in sorted(unknown)},
            )


class WebhookOut(serializers.Serializer[Any]):
    """The contract's ``Webhook`` (never its secret)."""

    id = serializers.UUIDField()
    url = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=WebhookStatus.choices)
    position = serializers.IntegerField(min_value=0)
    lag_events = serializers.IntegerField(min_value=0)
    last_error = serializers.CharField(allow_blank=True)
    last_delivery_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class CreatedWebhookOut(WebhookOut):
    """A webhook as its creation answers it: the one answer that shows its ``secret``."""

    secret = serializers.CharField()


class DeliveryOut(serializers.Serializer[Any]):
    event_id = serializers.UUIDField()
    attempt = serializers.IntegerField(min_value=1)
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    duration_ms = serializers.IntegerField(min_value=0)
    delivered_at = serializers.DateTimeField()


class WebhookIn(StrictSerializer):
    url = StrictCharField(max_length=addresses.MAX_URL_LENGTH)
    event_types = serializers.ListField(
        child=serializers.RegexField(EVENT_TYPE_PATTERN, max_length=100, trim_whitespace=False),
        max_length=100,
        required=False,
        default=list,
    )
    description = StrictCharField(max_length=500, allow_blank=True, required=False, default="")


WEBHOOK_ID: Final = OpenApiParameter(
    "webhook_id", {"type": "string", "format": "uuid"}, OpenApiParameter.PATH
)


def _webhook_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            "The webhook id is not a UUID.", details={"webhook_id": ["Must be a UUID."]}
        ) from None


@contextmanager
def _as_api_errors() -> Iterator[None]:
    try:
        yield
    except services.WebhookError as exc:
        raise ApiError(str(exc), code="webhook_not_found", status_code=404) from None
    except addresses.UrlNotAllowed as exc:
        raise ApiError(str(exc), code="url_not_allowed", details={"url": [str(exc)]}) from None
    except addresses.UrlInvalid as exc:
        raise ValidationFailed("The request is invalid.", details={"url": [str(exc)]}) from None


class WebhooksView(WebhookView):
    @extend_schema(
        operation_id="list_webhooks",
        responses={200: WebhookOut(many=True), **WEBHOOK_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(WebhookOut(selectors.webhook_list(), many=True).data)

    @extend_schema(
        operation_id="create_webhook",
        request=WebhookIn,
        responses={201: CreatedWebhookOut, **error_responses(403, 415)},
    )
    def post(self, request: Request) -> Response:
        given = validated(WebhookIn, request.data)
        with _as_api_errors():
            created = services.webhook_create(
                url=given["url"],
                event_types=given["event_types"],
                description=given["description"],
            )
        shown = selectors.webhook_get(created.webhook.id)
        body = CreatedWebhookOut({**asdict(shown), "secret": created.secret}).data
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # the secret: kept by no cache on the way
        return response


class WebhookDetailView(WebhookView):
    @extend_schema(
        operation_id="delete_webhook",
        parameters=[WEBHOOK_ID],
        responses={204: None, **WEBHOOK_ERRORS},
    )
    def delete(self, request: Request, webhook_id: str) -> Response:
        with _as_api_errors():
            services.webhook_delete(webhook_id=_webhook_id(webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEnableView(WebhookView):
    @extend_schema(
        operation_id="enable_webhook",
        parameters=[WEBHOOK_ID],
        request=None,
        responses={200: WebhookOut, **WEBHOOK_ERRORS},
    )
    def post(self, request: Request, webhook_id: str) -> Response:
        with _as_api_errors():
            webhook = services.webhook_enable(webhook_id=_webhook_id(webhook_id))
        return Response(WebhookOut(selectors.webhook_get(webhook.id)).data)


class DeliveriesView(WebhookView):
    allowed_params = PAGE_QUERY_PARAMS
    pagination_class = ContractPagination

    @extend_schema(
        operation_id="list_webhook_deliveries",
        parameters=[WEBHOOK_ID],
        responses={200: DeliveryOut(many=True), **WEBHOOK_ERRORS},
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        paginator = ContractPagination()
        paginator.requested(request)
        with _as_api_errors():
            rows = selectors.delivery_list(webhook_id=_webhook_id(webhook_id))
        page = paginator.paginate_queryset(rows, request, self)
        return Response(paginator.get_paginated_data(DeliveryOut(page, many=True).data))
