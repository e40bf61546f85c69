"""django-filter filters whose parameter a DRF field checks and documents, as bodies are.

A ``FieldFilter`` validates its query parameter with a strict field of common.http.fields and
hands drf-spectacular that same field for the parameter's schema, so what the OpenAPI schema
says a parameter accepts and what the API accepts come from one definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import django_filters
from django import forms
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.drainage import set_override
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.fields import SkipField


class _CheckedByField(forms.Field):
    """A form field delegating to a DRF field: absent is "not given", present must be valid
    (so ``?status=`` is an error, not "no filter")."""

    def __init__(self, *, checked_by: serializers.Field[Any, Any, Any, Any], **kwargs: Any) -> None:
        self.checked_by = checked_by
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if value is None:
            try:
                return self.checked_by.get_default()
            except SkipField:
                return None
        try:
            return self.checked_by.run_validation(value)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(list(_messages(exc.detail))) from None


def _messages(detail: Any) -> Iterator[str]:
    """DRF's messages as Django's: django-filter formats them with ``%``, and a message may
    quote the client's input (``"100%" is not a valid choice``)."""
    if isinstance(detail, list):
        for item in detail:
            yield from _messages(item)
    else:
        yield str(detail).replace("%", "%%")


class FieldFilter(django_filters.Filter):  # type: ignore[misc]  # django-filter is untyped
    """Filters ``field_name`` by ``lookup_expr`` with the value ``field`` validates."""

    field_class = _CheckedByField

    def __init__(
        self,
        field_name: str,
        lookup_expr: str = "exact",
        *,
        field: serializers.Field[Any, Any, Any, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(field_name, lookup_expr, checked_by=field, **kwargs)
        self.checked_by = field
        set_override(self, "field", field)  # the parameter's OpenAPI schema


class FieldFilterExtension(DjangoFilterExtension):  # type: ignore[no-untyped-call]
    """drf-spectacular's django-filter support, plus the checks (pattern, lengths, bounds) of
    a FieldFilter's field, which it maps only for serializers' own fields."""

    priority = 1

    def resolve_filter_field(
        self,
        auto_schema: AutoSchema,
        model: Any,
        filterset_class: Any,
        field_name: str,
        filter_field: Any,
    ) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().resolve_filter_field(  # type: ignore[no-untyped-call]
            auto_schema, model, filterset_class, field_name, filter_field
        )
        if isinstance(filter_field, FieldFilter):
            for parameter in parameters:
                schema = parameter["schema"]
                auto_schema._insert_field_validators(filter_field.checked_by, schema)  # type: ignore[no-untyped-call]
        return parameters
