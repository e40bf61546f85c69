"""Strict DRF building blocks: no silent type coercion, no unknown fields, exact money."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rest_framework import serializers

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}\Z"


class StrictSerializer(serializers.Serializer[Any]):
    """Refuses bodies that are not objects and fields it does not know (typos don't pass)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object."]}, code="invalid"
            )
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers, booleans and objects instead of converting them."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class IdentifierField(serializers.RegexField):
    """customer_id / product_id: 1..64 characters of [A-Za-z0-9_.:-]."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "error_messages", {"invalid": "Use 1..64 characters of A-Z, a-z, 0-9, _ . : -"}
        )
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(ID_PATTERN, max_length=64, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictIntegerField(serializers.IntegerField):
    """An integer given as a JSON integer, not as a string, float or boolean."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class MoneyField(serializers.DecimalField):
    """A decimal amount with at most two places, given as a string ("12.50") or a number."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=2, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (str, int, Decimal)):
            self.fail("invalid")
        amount = Decimal(super().to_internal_value(data))
        return amount.copy_abs() if amount.is_zero() else amount  # no "-0.00"


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class MoneyOut(serializers.DecimalField):
    """An amount answered as a decimal string with two places ("12.50").

    Amounts come from NUMERIC(…, 2) columns or cent-exact Decimals, so formatting is enough;
    DecimalField's own quantizing was a third of an order view's serializing time.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=18, decimal_places=2, **kwargs)

    def to_representation(self, value: Decimal) -> str:
        return f"{value:.2f}"
