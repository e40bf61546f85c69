"""POST /api/customers/{customer_id}/forget: erase a customer's personal data (orders.customers)."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http.errors import error_responses
from common.http.fields import (
    IDENTIFIER_SCHEMA,
    IdentifierField,
    StrictCharField,
    StrictSerializer,
    validated,
)
from orders.api.commands import HEADER_VALUE_PATTERN, _header, refuse_unknown_parameters
from orders.customers import MAX_REASON_LENGTH, forget_customer

FORGET_PERMISSION = "orders.forget_customers"


class CanForgetCustomers(permissions.BasePermission):
    message = f"You need the permission {FORGET_PERMISSION} to forget customers."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm(FORGET_PERMISSION))


class _CustomerPath(StrictSerializer):
    customer_id = IdentifierField()


class ForgetIn(StrictSerializer):
    reason = StrictCharField(min_length=1, max_length=MAX_REASON_LENGTH)


class ForgetOut(serializers.Serializer[Any]):
    customer_id = serializers.CharField()
    forgotten_at = serializers.DateTimeField()
    position = serializers.IntegerField()


class ForgetCustomerView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanForgetCustomers]

    @extend_schema(
        operation_id="forget_customer",
        request=ForgetIn,
        responses={200: ForgetOut, **error_responses(403, 415)},
        parameters=[
            OpenApiParameter(
                "customer_id", IDENTIFIER_SCHEMA, OpenApiParameter.PATH, required=True
            ),
            OpenApiParameter(
                "X-Correlation-ID",
                {"type": "string", "pattern": HEADER_VALUE_PATTERN},
                OpenApiParameter.HEADER,
                required=False,
                description="Recorded with the event.",
            ),
        ],
        description=(
            "Erase the customer's personal fields (the shipping address's line1, line2, city "
            'and postal_code) everywhere: they read "[erased]" from then on. Forgetting them '
            "again answers the first forget."
        ),
    )
    def post(self, request: Request, customer_id: str) -> Response:
        refuse_unknown_parameters(request)
        customer = validated(_CustomerPath, {"customer_id": customer_id})["customer_id"]
        reason = validated(ForgetIn, request.data)["reason"]
        correlation_id = _header(request, "X-Correlation-ID") or str(uuid.uuid4())
        done = forget_customer(
            customer, reason, actor=request.user.get_username(), correlation_id=correlation_id
        )
        body = ForgetOut(
            {
                "customer_id": done.customer_id,
                "forgotten_at": done.forgotten_at,
                "position": done.position,
            }
        ).data
        response = Response(body)
        response["X-Correlation-ID"] = correlation_id
        return response
