"""Strict DRF building blocks: no silent type coercion, no unknown fields, exact money."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from django.utils.dateparse import parse_datetime
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


# No NUL character (PostgreSQL can't store it); and, where a value is required, something
# besides whitespace.
NO_NUL_PATTERN = r"\A[^\x00]*\Z"
NOT_BLANK_PATTERN = r"\A[^\x00]*[^\x00\s][^\x00]*\Z"


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers, booleans and objects instead of converting them.

    It keeps spaces as given (an address line may start with one), but a field that may not be
    blank refuses one of whitespace alone ("   " is no address line); its pattern (also the
    schema's) says so, and that a NUL character is refused.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        pattern = NO_NUL_PATTERN if self.allow_blank else NOT_BLANK_PATTERN
        self.validators.append(RegexValidator(pattern, message="Null characters are not allowed."))

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not self.allow_blank and not data.strip():
            self.fail("blank")
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


# The text of an integer and of a number in a query parameter or header: ASCII, as JSON writes
# them. Python's int() and float() also take "1.0" (DRF drops ".0"), full-width digits (U+FF11),
# other scripts' digits, spaces, "+1" and "1_000".
_INTEGER_TEXT = re.compile(r"-?[0-9]+\Z")
_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z")


class QueryIntegerField(serializers.IntegerField):
    """An integer given as text (a query parameter, a header): ASCII digits and a sign only."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not _INTEGER_TEXT.match(data):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class QueryNumberField(serializers.FloatField):
    """A number given as text (a query parameter): as JSON writes one, finite."""

    def to_internal_value(self, data: Any) -> float:
        if not isinstance(data, str) or not _NUMBER_TEXT.match(data):
            self.fail("invalid")
        number = float(super().to_internal_value(data))
        if not math.isfinite(number):  # "1e999" is a number JSON writes, but not a float
            self.fail("invalid")
        return number


# Amounts are decimal strings with at most two places; each pattern also bounds its amount,
# so that it says all the API accepts (it is the OpenAPI schema's pattern too).
# Query amounts reach past the largest order total the domain allows (orders.domain.values).
AMOUNT_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?\Z"  # 0 .. 9,999,999,999,999.99
# 0.00 .. 1,000,000.00; "-0", "-0.0" and "-0.00" are zero.
PRICE_PATTERN = r"^(-?0{1,7}(\.0{1,2})?|[0-9]{1,6}(\.[0-9]{1,2})?|1000000(\.0{1,2})?)\Z"


class MoneyField(serializers.RegexField):
    """An amount given as a decimal string matching ``pattern`` ("12.50"; not a JSON number,
    no exponent, no spaces), answered as a Decimal (zero without its sign)."""

    def __init__(self, pattern: str = AMOUNT_PATTERN, **kwargs: Any) -> None:
        kwargs.setdefault(
            "error_messages", {"invalid": "Give a decimal string with at most two places."}
        )
        super().__init__(pattern, trim_whitespace=False, **kwargs)
        self.pattern = re.compile(pattern)

    def to_internal_value(self, data: Any) -> Decimal:  # type: ignore[override]  # parsed str
        if not isinstance(data, str) or not self.pattern.match(data):
            self.fail("invalid")
        amount = Decimal(data)
        return amount.copy_abs() if amount.is_zero() else amount


class TimestampField(serializers.DateTimeField):
    """An ISO 8601 timestamp with a UTC offset (RFC 3339), answered in UTC."""

    default_error_messages = {
        "invalid": "Use an ISO 8601 timestamp with a UTC offset.",
        "overflow": "The timestamp is out of range.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        parsed = None
        if isinstance(value, str) and value.isascii():  # no full-width or other digits
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.fail("invalid")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            self.fail("overflow")


_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


class DateQueryField(serializers.DateField):
    """A date given as text: YYYY-MM-DD in ASCII digits (Django's parser also takes
    "2024-3-1" and digits of other scripts)."""

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not _DATE_TEXT.match(value):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


# One input serializer per class and thread, given each request's data in turn: DRF builds a
# serializer's fields anew for every instance (deep copies of the declared fields, nested
# serializers' included), which was half the time of validating a create-order body. Fields
# keep no request's state; a run's results are dropped before the next.
class _Inputs(threading.local):
    def __init__(self) -> None:  # once in each thread
        self.serializers: dict[type[serializers.Serializer[Any]], serializers.Serializer[Any]] = {}


_inputs = _Inputs()
_RESULTS = ("_validated_data", "_errors", "_data")


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    """``data`` validated by ``serializer_class``; raises its ValidationError."""
    kept = _inputs.serializers
    serializer = kept.get(serializer_class)
    if serializer is None:
        serializer = kept[serializer_class] = serializer_class(data=data)
    else:
        serializer.initial_data = data
        for result in _RESULTS:
            serializer.__dict__.pop(result, None)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class MoneyOut(serializers.DecimalField):
    """An amount answered as a decimal string with two places ("12.50"), of at most
    ``max_digits`` digits (the schema's pattern says how many).

    Amounts come from NUMERIC(…, 2) columns or cent-exact Decimals, so formatting is enough
    (and exact however large: no context precision is involved); DecimalField's own quantizing
    was a third of an order view's serializing time.
    """

    def __init__(self, *, max_digits: int = 18, **kwargs: Any) -> None:
        super().__init__(max_digits=max_digits, decimal_places=2, **kwargs)

    def to_representation(self, value: Decimal) -> str:
        return f"{value:.2f}"


# An identifier's OpenAPI schema where no IdentifierField describes it (a path parameter).
IDENTIFIER_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": ID_PATTERN.replace("\\Z", "$"),
    "minLength": 1,
    "maxLength": 64,
}
