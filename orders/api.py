"""The command API and the log-backed reads (history, temporal state). Views only translate."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ValidationFailed, error_responses
from config.consistency import (
    CONSISTENCY_PARAMETERS,
    CONSISTENCY_QUERY_PARAMS,
    wait_for_consistency,
    with_consistency,
)
from config.serializers import (
    IdentifierField,
    MoneyField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
    validated,
)
from orders.domain import commands as cmd
from orders.domain.values import MAX_QUANTITY, MAX_UNIT_PRICE, Address, LineItem
from orders.selectors import order_history_get, order_state_get
from orders.services import CommandOutcome, execute_command

MAX_HEADER_VALUE = 255


class CanIssueOrderCommands(permissions.BasePermission):
    """Reads need any user; commands need orders.issue_order_commands."""

    message = "You need the permission orders.issue_order_commands to send order commands."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.has_perm("orders.issue_order_commands"))


# --- input ----------------------------------------------------------------------------------
class AddressIn(StrictSerializer):
    line1 = StrictCharField(max_length=200)
    line2 = StrictCharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    city = StrictCharField(max_length=100)
    postal_code = StrictCharField(max_length=20)
    country = StrictCharField(min_length=2, max_length=64)


class ItemIn(StrictSerializer):
    product_id = IdentifierField()
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)
    unit_price = MoneyField(min_value=0, max_value=MAX_UNIT_PRICE)


class CreateOrderIn(StrictSerializer):
    customer_id = IdentifierField()
    # Lines of one product merge, so the 500-products rule is the domain's; this only bounds work.
    items = serializers.ListField(child=ItemIn(), allow_empty=False, max_length=5000)
    shipping_address = AddressIn()
    currency = serializers.RegexField(
        r"^[A-Z]{3}\Z", required=False, default="USD", trim_whitespace=False
    )


class ShipIn(StrictSerializer):
    carrier = StrictCharField(max_length=100, required=False, allow_blank=True)
    tracking_number = StrictCharField(max_length=100, required=False, allow_blank=True)


class CancelIn(StrictSerializer):
    reason = StrictCharField(min_length=1, max_length=500)


class CommandResultOut(serializers.Serializer[Any]):
    order_id = serializers.UUIDField()
    version = serializers.IntegerField()
    position = serializers.IntegerField()


def _address(data: dict[str, Any]) -> Address:
    return Address(
        line1=data["line1"],
        line2=data.get("line2") or "",
        city=data["city"],
        postal_code=data["postal_code"],
        country=data["country"],
    )


def _item(data: dict[str, Any]) -> LineItem:
    return LineItem(data["product_id"], data["quantity"], data["unit_price"])


def parse_order_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            "The order id is not a UUID.", details={"order_id": ["Must be a UUID."]}
        ) from None


def parse_product_id(value: str) -> str:
    return str(validated(_ProductPath, {"product_id": value})["product_id"])


class _ProductPath(StrictSerializer):
    product_id = IdentifierField()


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not value or len(value) > MAX_HEADER_VALUE or not (value.isascii() and value.isprintable()):
        raise ValidationFailed(
            f"The {name} header must be 1..{MAX_HEADER_VALUE} printable ASCII characters.",
            details={name: ["Invalid header value."]},
        )
    return value


def _expected_version(request: Request) -> int | None:
    raw = _header(request, "If-Match")
    if raw is None or raw.strip() == "*":
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ValidationFailed(
            'If-Match must be an ETag such as "3".', details={"If-Match": ["Invalid ETag."]}
        )
    return int(tag)


IDEMPOTENCY_HEADERS = [
    OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
    OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=False),
    OpenApiParameter("X-Correlation-ID", str, OpenApiParameter.HEADER, required=False),
]
COMMAND_ERRORS = error_responses(403, 404, 409, 412, 422)


class CommandView(APIView):
    """Shared translation for command endpoints: headers in, outcome out."""

    permission_classes = [permissions.IsAuthenticated, CanIssueOrderCommands]

    def run(self, request: Request, command: cmd.Command) -> Response:
        correlation_id = _header(request, "X-Correlation-ID") or str(uuid.uuid4())
        outcome: CommandOutcome = execute_command(
            command,
            actor=request.user.get_username(),
            correlation_id=correlation_id,
            idempotency_key=_header(request, "Idempotency-Key"),
            request_hash=_request_hash(request),
        )
        response = Response(outcome.body, status=outcome.status_code)
        response["ETag"] = f'"{outcome.body["version"]}"'
        response["X-Correlation-ID"] = correlation_id
        if outcome.status_code == 201:
            response["Location"] = f"/api/orders/{outcome.body['order_id']}"
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def order_command_kwargs(self, request: Request, order_id: str) -> dict[str, Any]:
        return {
            "order_id": parse_order_id(order_id),
            "expected_version": _expected_version(request),
        }


def _request_hash(request: Request) -> str:
    body = json.dumps(request.data, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    query = request.query_params.urlencode()
    raw = f"{request.method} {request.path.rstrip('/')}?{query}\n{body}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class CreateOrderView(CommandView):
    @extend_schema(
        operation_id="create_order",
        request=CreateOrderIn,
        responses={201: CommandResultOut, **COMMAND_ERRORS},
        parameters=IDEMPOTENCY_HEADERS,
    )
    def post(self, request: Request) -> Response:
        data = validated(CreateOrderIn, request.data)
        command = cmd.CreateOrder(
            customer_id=data["customer_id"],
            items=tuple(_item(i) for i in data["items"]),
            shipping_address=_address(data["shipping_address"]),
            currency=data["currency"],
        )
        return self.run(request, command)


class AddItemView(CommandView):
    @extend_schema(
        operation_id="add_order_item",
        request=ItemIn,
        responses={200: CommandResultOut, **COMMAND_ERRORS},
        parameters=IDEMPOTENCY_HEADERS,
    )
    def post(self, request: Request, order_id: str) -> Response:
        kwargs = self.order_command_kwargs(request, order_id)
        item = _item(validated(ItemIn, request.data))
        return self.run(request, cmd.AddOrderItem(item=item, **kwargs))


class RemoveItemView(CommandView):
    @extend_schema(
        operation_id="remove_order_item",
        request=None,
        responses={200: CommandResultOut, **COMMAND_ERRORS},
        parameters=IDEMPOTENCY_HEADERS,
    )
    def delete(self, request: Request, order_id: str, product_id: str) -> Response:
        kwargs = self.order_command_kwargs(request, order_id)
        command = cmd.RemoveOrderItem(product_id=parse_product_id(product_id), **kwargs)
        return self.run(request, command)


class ShippingAddressView(CommandView):
    @extend_schema(
        operation_id="change_shipping_address",
        request=AddressIn,
        responses={200: CommandResultOut, **COMMAND_ERRORS},
        parameters=IDEMPOTENCY_HEADERS,
    )
    def put(self, request: Request, order_id: str) -> Response:
        kwargs = self.order_command_kwargs(request, order_id)
        address = _address(validated(AddressIn, request.data))
        return self.run(request, cmd.ChangeShippingAddress(shipping_address=address, **kwargs))


class ShipOrderView(CommandView):
    @extend_schema(
        operation_id="ship_order",
        request=ShipIn,
        responses={200: CommandResultOut, **COMMAND_ERRORS},
        parameters=IDEMPOTENCY_HEADERS,
    )
    def post(self, request: Request, order_id: str) -> Response:
        kwargs = self.order_command_kwargs(request, order_id)
        data = validated(ShipIn, request.data)
        command = cmd.ShipOrder(
            carrier=data.get("carrier", ""),
            tracking_number=data.get("tracking_number", ""),
            **kwargs,
        )
        return self.run(request, command)


class CancelOrderView(CommandView):
    @extend_schema(
        operation_id="cancel_order",
        request=CancelIn,
        responses={200: CommandResultOut, **COMMAND_ERRORS},
        parameters=IDEMPOTENCY_HEADERS,
    )
    def post(self, request: Request, order_id: str) -> Response:
        kwargs = self.order_command_kwargs(request, order_id)
        reason = validated(CancelIn, request.data)["reason"]
        return self.run(request, cmd.CancelOrder(reason=reason, **kwargs))


class CancelOrderByDeleteView(CommandView):
    """DELETE /api/orders/{id}?reason=… (the reason may also come in the body)."""

    @extend_schema(
        operation_id="cancel_order_by_delete",
        request=None,
        parameters=[
            *IDEMPOTENCY_HEADERS,
            OpenApiParameter("reason", str, OpenApiParameter.QUERY, required=True),
        ],
        responses={200: CommandResultOut, **COMMAND_ERRORS},
    )
    def delete(self, request: Request, order_id: str) -> Response:
        kwargs = self.order_command_kwargs(request, order_id)
        body: Any = request.data if request.data else {}
        if "reason" in request.query_params and isinstance(body, dict):
            body = {**body, "reason": request.query_params["reason"]}
        reason = validated(CancelIn, body)["reason"]
        return self.run(request, cmd.CancelOrder(reason=reason, **kwargs))


# --- log-backed reads -----------------------------------------------------------------------
HISTORY_EVENT = inline_serializer(
    "HistoryEvent",
    {
        "position": serializers.IntegerField(),
        "version": serializers.IntegerField(),
        "event_type": serializers.CharField(),
        "schema_version": serializers.IntegerField(),
        "data": serializers.DictField(),
        "metadata": serializers.DictField(),
        "recorded_at": serializers.DateTimeField(),
    },
    many=True,
)


class OrderHistoryView(APIView):
    @extend_schema(
        operation_id="order_history",
        parameters=CONSISTENCY_PARAMETERS,
        responses={200: HISTORY_EVENT, **error_responses(404)},
    )
    def get(self, request: Request, order_id: str) -> Response:
        order_uuid = parse_order_id(order_id)
        consistency = wait_for_consistency(request, feeds=())
        return with_consistency(Response(order_history_get(order_uuid)), consistency)


class OrderStateQuery(StrictSerializer):
    version = serializers.IntegerField(min_value=1, required=False)
    at = serializers.CharField(required=False)

    def validate_at(self, value: str) -> Any:
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise serializers.ValidationError("Use an ISO 8601 timestamp with a UTC offset.")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise serializers.ValidationError("The timestamp is out of range.") from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "version" in attrs and "at" in attrs:
            raise serializers.ValidationError("Give version or at, not both.")
        return attrs


class OrderItemOut(serializers.Serializer[Any]):
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=16, decimal_places=2)


class AddressOut(serializers.Serializer[Any]):
    line1 = serializers.CharField()
    line2 = serializers.CharField(allow_blank=True)
    city = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()


class OrderViewOut(serializers.Serializer[Any]):
    """The OrderView shape of the contract (documentation of the query answers)."""

    order_id = serializers.UUIDField()
    customer_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "shipped", "cancelled"])
    currency = serializers.CharField()
    total_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    item_count = serializers.IntegerField()
    items = OrderItemOut(many=True)
    shipping_address = AddressOut()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancel_reason = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()


class OrderStateView(APIView):
    @extend_schema(
        operation_id="order_state",
        parameters=[
            OpenApiParameter("version", int, OpenApiParameter.QUERY, required=False),
            OpenApiParameter("at", OpenApiTypes.DATETIME, OpenApiParameter.QUERY, required=False),
            *CONSISTENCY_PARAMETERS,
        ],
        responses={
            200: OrderViewOut,
            **error_responses(404),
        },
    )
    def get(self, request: Request, order_id: str) -> Response:
        order_uuid = parse_order_id(order_id)
        consistency = wait_for_consistency(request, feeds=())
        params = request.query_params.dict()
        query = validated(
            OrderStateQuery, {k: v for k, v in params.items() if k not in CONSISTENCY_QUERY_PARAMS}
        )
        state = order_state_get(order_uuid, version=query.get("version"), at=query.get("at"))
        response = with_consistency(Response(state), consistency)
        response["ETag"] = f'"{state["version"]}"'
        return response
