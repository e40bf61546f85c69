"""The order API's serializers: command bodies in, command results and order views out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.http.fields import (
    PRICE_PATTERN,
    IdentifierField,
    MoneyField,
    QueryIntegerField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
    TimestampField,
)
from orders.domain.values import CENT, MAX_QUANTITY, MAX_UNIT_PRICE

# The order's shape moved to orders.shapes (the read side uses it too); re-exported here.
from orders.shapes import AddressOut, OrderItemOut, OrderViewOut

__all__ = [  # the shapes of orders.shapes are re-exported: the order API's outputs
    "MAX_ITEMS",
    "MAX_VERSION",
    "AddressIn",
    "AddressOut",
    "CancelIn",
    "CommandResultOut",
    "CreateOrderIn",
    "ItemIn",
    "OrderItemOut",
    "OrderStateQuery",
    "OrderViewOut",
    "ShipIn",
    "UnitPriceField",
]

MAX_VERSION = 2**31 - 1  # the log's version column is an integer
# Lines of one product merge, so the 500-products rule is the domain's; this bounds the work
# and keeps any body of that many items under API_MAX_BODY_BYTES.
MAX_ITEMS = 1000


class AddressIn(StrictSerializer):
    line1 = StrictCharField(max_length=200)
    line2 = StrictCharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    city = StrictCharField(max_length=100)
    postal_code = StrictCharField(max_length=20)
    country = StrictCharField(min_length=2, max_length=64)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": PRICE_PATTERN.replace("\\Z", "$")},
            {"type": "number", "minimum": 0, "maximum": int(MAX_UNIT_PRICE), "multipleOf": 0.01},
        ],
        "description": 'A decimal string ("12.50"); a JSON number with at most two places is '
        "accepted too.",
    }
)
class UnitPriceField(MoneyField):
    """0.00 .. MAX_UNIT_PRICE: a decimal string, or (as the API always took) a JSON number
    with at most two decimal places."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(PRICE_PATTERN, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:  # type: ignore[override]  # see MoneyField
        if isinstance(data, bool) or not isinstance(data, (int, Decimal)):
            return super().to_internal_value(data)
        amount = Decimal(data)
        # The bounds first: quantizing a number of more digits than the decimal context's
        # precision (1e26 and up) raises InvalidOperation instead of answering.
        if not amount.is_finite() or not 0 <= amount <= MAX_UNIT_PRICE:
            self.fail("invalid")
        cents = amount.quantize(CENT)
        if cents != amount:
            self.fail("invalid")
        # In cents, so that its text ("1E+2" is 100.00) is one the field's pattern matches.
        return cents.copy_abs() if cents.is_zero() else cents


class ItemIn(StrictSerializer):
    product_id = IdentifierField()
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)
    unit_price = UnitPriceField()


class CreateOrderIn(StrictSerializer):
    customer_id = IdentifierField()
    items = serializers.ListField(child=ItemIn(), min_length=1, max_length=MAX_ITEMS)
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


HISTORY_PAGE_MAX = 1000


class OrderHistoryQuery(StrictSerializer):
    from_version = QueryIntegerField(min_value=1, max_value=MAX_VERSION, required=False)
    limit = QueryIntegerField(min_value=1, max_value=HISTORY_PAGE_MAX, required=False)


class OrderStateQuery(StrictSerializer):
    version = QueryIntegerField(min_value=1, max_value=MAX_VERSION, required=False)
    at = TimestampField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "version" in attrs and "at" in attrs:
            raise serializers.ValidationError("Give version or at, not both.")
        return attrs
