"""How an order is shown: the contract's OrderView, one shape for every answer showing an order.

Shared by the command side (an order rebuilt from its events, orders.api.history) and the read
side (a read-model row, projections.read_models.api), which imports nothing of orders.api.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from common.http.fields import MoneyOut
from orders.domain.model import OrderStatus


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
