"""The order lists' filters (django-filter): their query parameters, checks and OpenAPI schema."""

from __future__ import annotations

from typing import Any, Final

import django_filters
from django import forms
from django_filters.constants import EMPTY_VALUES
from rest_framework import serializers

from common.http.fields import IdentifierField, MoneyField, StrictCharField, TimestampField
from common.http.filters import FieldFilter
from orders.domain.model import OrderStatus
from projections.read_models.models import OrderView

STATUSES: Final = tuple(status.value for status in OrderStatus)


def _status() -> FieldFilter:
    return FieldFilter("status", field=serializers.ChoiceField(choices=STATUSES))


class CustomerOrdersFilter(django_filters.FilterSet):  # type: ignore[misc]  # untyped library
    status = _status()

    class Meta:
        model = OrderView
        fields: list[str] = []


class _SearchForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("min_total"), data.get("max_total")
        if low is not None and high is not None and low > high:
            self.add_error("min_total", "Must not exceed max_total.")
        return data


class OrderSearchFilter(django_filters.FilterSet):  # type: ignore[misc]  # untyped library
    q = FieldFilter(
        "search_text",
        "matches",
        field=StrictCharField(max_length=200, allow_blank=True),
        help_text="Words of the customer id, product ids, city or cancel reason "
        "(full text on PostgreSQL).",
    )
    status = _status()
    customer_id = FieldFilter("customer_id", field=IdentifierField())
    min_total = FieldFilter("total_amount", "gte", field=MoneyField())
    max_total = FieldFilter("total_amount", "lte", field=MoneyField())
    created_after = FieldFilter("created_at", "gte", field=TimestampField())
    created_before = FieldFilter("created_at", "lt", field=TimestampField())

    class Meta:
        model = OrderView
        fields: list[str] = []
        form = _SearchForm


def statuses_counted(filterset: OrderSearchFilter) -> tuple[str, ...] | None:
    """The statuses whose order counts add up to the number of orders ``filterset`` (valid)
    selects: all of them with no filter, one with ``status`` alone; None if another filter is
    given (its rows must be counted)."""
    given = _given(filterset)
    status = given.pop("status", None)
    if given:
        return None
    return STATUSES if status is None else (status,)


def word_counted(filterset: OrderSearchFilter) -> tuple[str, tuple[str, ...]] | None:
    """``q`` and the statuses whose counts by word may add up to the number of orders
    ``filterset`` (valid) selects: when it gives ``q`` of one word (no whitespace; whether the
    database splits it into one word is its to say) and at most ``status`` besides."""
    given = _given(filterset)
    q = given.pop("q", None)
    status = given.pop("status", None)
    if given or not isinstance(q, str) or len(q.split()) != 1:
        return None
    return q, STATUSES if status is None else (status,)


def _given(filterset: OrderSearchFilter) -> dict[str, Any]:
    return {
        name: value
        for name, value in filterset.form.cleaned_data.items()
        if value not in EMPTY_VALUES
    }
