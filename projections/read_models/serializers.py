"""The reports' answer bodies (the order view's is orders.api.serializers.OrderViewOut)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from common.http.fields import MoneyOut
from projections.read_models.models import SUM_AMOUNT_DIGITS


class CustomerSummaryOut(serializers.Serializer[Any]):
    customer_id = serializers.CharField()
    order_count = serializers.IntegerField()
    open_order_count = serializers.IntegerField()
    cancelled_count = serializers.IntegerField()
    lifetime_value = MoneyOut(max_digits=SUM_AMOUNT_DIGITS)
    last_order_at = serializers.DateTimeField(allow_null=True)


class DailySalesOut(serializers.Serializer[Any]):
    date = serializers.DateField()
    orders_placed = serializers.IntegerField()
    orders_cancelled = serializers.IntegerField()
    orders_shipped = serializers.IntegerField()
    gross_revenue = MoneyOut(max_digits=SUM_AMOUNT_DIGITS)
    items_sold = serializers.IntegerField()
