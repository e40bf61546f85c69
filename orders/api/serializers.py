"""The order API's serializers: command bodies in, command results and order views out."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from common.http.fields import (
    IdentifierField,
    MoneyField,
    MoneyOut,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
)
from orders.domain.model import OrderStatus
from orders.domain.values import MAX_QUANTITY, MAX_UNIT_PRICE


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
    unit_price = MoneyOut()
    line_total = MoneyOut()


class AddressOut(serializers.Serializer[Any]):
    line1 = serializers.CharField()
    line2 = serializers.CharField(allow_blank=True, allow_null=True, required=False)
    city = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()


class OrderViewOut(serializers.Serializer[Any]):
    """The OrderView of the contract: the body (and schema) of every answer showing an order,
    from a read-model row or from an order rebuilt from its events (orders.selectors)."""

    order_id = serializers.UUIDField()
    customer_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[status.value for status in OrderStatus])
    currency = serializers.CharField()
    total_amount = MoneyOut()
    item_count = serializers.IntegerField()
    items = OrderItemOut(many=True)
    shipping_address = AddressOut()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancel_reason = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
