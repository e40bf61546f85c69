"""The command API: each view turns a request into a command and the outcome into an answer."""

from __future__ import annotations

import re
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
from orders.http import domain_errors_as_api_errors, parse_order_id
from orders.services import execute_command


class CanIssueOrderCommands(permissions.BasePermission):
    """Reads need any user; commands need orders.issue_order_commands."""

    message = "You need the permission orders.issue_order_commands to send order commands."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.has_perm("orders.issue_order_commands"))


def _item(data: dict[str, Any]) -> LineItem:
    return LineItem(data["product_id"], data["quantity"], data["unit_price"])


def parse_product_id(value: str) -> str:
    return str(validated(_ProductPath, {"product_id": value})["product_id"])


class _ProductPath(StrictSerializer):
    product_id = IdentifierField()


# What each header accepts; the same patterns are the OpenAPI schema's.
HEADER_VALUE_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"  # 1..255 printable ASCII, no edge spaces
ETAG_PATTERN = r'^(\*|(W/)?"?[0-9]{1,9}"?)$'  # "3", 3, W/"3" or *


def _header(request: Request, name: str, pattern: str = HEADER_VALUE_PATTERN) -> str | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not re.fullmatch(pattern, value):
        raise ValidationFailed(
            f"The {name} header does not match {pattern}.",
            details={name: ["Invalid header value."]},
        )
    return value


def _expected_version(request: Request) -> int | None:
    tag = _header(request, "If-Match", ETAG_PATTERN)
    if tag is None or tag == "*":
        return None
    return int(tag.removeprefix("W/").strip('"'))


def _header_parameter(name: str, pattern: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "string", "pattern": pattern},
        OpenApiParameter.HEADER,
        required=False,
        description=description,
    )


IDEMPOTENCY_HEADERS = [
    _header_parameter(
        "Idempotency-Key",
        HEADER_VALUE_PATTERN,
        "The same key and body again answer the first answer and append nothing.",
    ),
    _header_parameter("If-Match", ETAG_PATTERN, "The order's version (its ETag): else 412."),
    _header_parameter("X-Correlation-ID", HEADER_VALUE_PATTERN, "Recorded with the events."),
]
COMMAND_ERRORS = error_responses(403, 404, 409, 412, 415, 422)


def refuse_unknown_parameters(request: Request, known: frozenset[str] = frozenset()) -> None:
    """A 400 naming each query parameter a command does not take (``format`` aside)."""
    unknown = set(request.query_params) - known - {"format"}
    if unknown:
        raise ValidationFailed(
            "Unknown query parameters.",
            details={name: ["Unknown parameter."] for name in sorted(unknown)},
        )


class CommandView(APIView):
    """Shared translation for command endpoints: headers in, outcome out."""

    permission_classes = [permissions.IsAuthenticated, CanIssueOrderCommands]

    success_status: ClassVar[int] = 200
    # The query parameters a command takes (``format`` aside): any other is a 400, as on the
    # query views, not silently ignored.
    query_parameters: ClassVar[frozenset[str]] = frozenset()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        method = (request.method or "").lower()
        # A command's own method only: a view may also answer reads, and a method it lacks
        # is a 405.
        if request.method not in permissions.SAFE_METHODS and hasattr(self, method):
            refuse_unknown_parameters(request, self.query_parameters)

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
        parameters=[h for h in IDEMPOTENCY_HEADERS if h.name != "If-Match"],
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

    query_parameters = frozenset({"reason"})

    @extend_schema(
        operation_id="cancel_order_by_delete",
        request=None,
        parameters=[*IDEMPOTENCY_HEADERS, CancelIn],
        responses={200: CommandResultOut, **COMMAND_ERRORS},
    )
    def delete(self, request: Request, order_id: str) -> Response:
        kwargs = self.order_command_kwargs(request, order_id)
        body: Any = request.data if request.data else {}
        if "reason" in request.query_params and isinstance(body, dict):
            body = {**body, "reason": request.query_params["reason"]}
        reason = validated(CancelIn, body)["reason"]
        return self.run(request, cmd.CancelOrder(reason=reason, **kwargs))
