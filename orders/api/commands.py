"""The command API: each view turns a request into a command and the outcome into an answer."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http.errors import ValidationFailed, error_responses
from common.http.fields import IdentifierField, StrictSerializer, validated
from orders import idempotency
from orders.api.serializers import (
    AddressIn,
    CancelIn,
    CommandResultOut,
    CreateOrderIn,
    ItemIn,
    ShipIn,
)
from orders.domain import commands as cmd
from orders.domain.values import Address, LineItem
from orders.http import domain_errors_as_api_errors
from orders.services import execute_command

MAX_HEADER_VALUE = 255


class CanIssueOrderCommands(permissions.BasePermission):
    """Reads need any user; commands need orders.issue_order_commands."""

    message = "You need the permission orders.issue_order_commands to send order commands."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.has_perm("orders.issue_order_commands"))


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

    success_status: ClassVar[int] = 200

    def run(self, request: Request, command: cmd.Command) -> Response:
        correlation_id = _header(request, "X-Correlation-ID") or str(uuid.uuid4())
        with domain_errors_as_api_errors():
            outcome = execute_command(
                command,
                actor=request.user.get_username(),
                correlation_id=correlation_id,
                idempotency_key=_header(request, "Idempotency-Key"),
                request_hash=idempotency.fingerprint(
                    request.method or "",
                    request.path,
                    request.query_params.urlencode(),
                    request.data,
                ),
            )
        result = outcome.result
        response = Response(idempotency.result_body(result), status=self.success_status)
        response["ETag"] = f'"{result.version}"'
        response["X-Correlation-ID"] = correlation_id
        if self.success_status == 201:
            response["Location"] = f"/api/orders/{result.order_id}"
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def order_command_kwargs(self, request: Request, order_id: str) -> dict[str, Any]:
        return {
            "order_id": parse_order_id(order_id),
            "expected_version": _expected_version(request),
        }


class CreateOrderView(CommandView):
    success_status = 201

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
            shipping_address=Address.from_payload(data["shipping_address"]),
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
        address = Address.from_payload(validated(AddressIn, request.data))
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
