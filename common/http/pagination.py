"""The contract's page as a DRF pagination class.

A page is ``{"items", "total", "page", "page_size", "total_pages"}``; ``page`` counts from 1,
``page_size`` is 1..100 (20 by default); a value out of range is a 400 in the contract's shape
(not DRF's 404), and a page past the end is an empty one. ``total`` is the rows' ``count()``
(a queryset's COUNT, or a total its selector knows without counting) or a sequence's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Protocol, cast

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.views import APIView

from common.http.fields import QueryIntegerField, StrictSerializer, validated

MAX_PAGE: Final = 1_000_000
MAX_PAGE_SIZE: Final = 100
DEFAULT_PAGE_SIZE: Final = 20


class Countable(Protocol):
    """Rows that say how many they are and give a slice of themselves (a QuerySet does)."""

    def count(self) -> int: ...

    def __getitem__(self, window: slice) -> Any: ...


class PageQuery(StrictSerializer):
    page = QueryIntegerField(min_value=1, max_value=MAX_PAGE, default=1)
    page_size = QueryIntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE)


PAGE_QUERY_PARAMS: Final = frozenset(PageQuery().fields)


class ContractPagination(BasePagination):
    """Pages of a queryset in the contract's shape. ``requested`` checks the page parameters;
    a view calls it before it waits for read-your-writes, so a bad page is refused at once."""

    def __init__(self) -> None:
        self.page = 1
        self.page_size = DEFAULT_PAGE_SIZE
        self.total = 0

    def requested(self, request: Request) -> None:
        params = validated(
            PageQuery, {k: v for k, v in request.query_params.items() if k in PAGE_QUERY_PARAMS}
        )
        self.page, self.page_size = params["page"], params["page_size"]

    def paginate_queryset(
        self,
        queryset: QuerySet[Any, Any] | Countable | Sequence[Any],
        request: Request,
        view: APIView | None = None,
    ) -> list[Any]:
        self.requested(request)
        self.total = len(queryset) if isinstance(queryset, Sequence) else queryset.count()
        start = (self.page - 1) * self.page_size
        if start >= self.total:
            return []
        return list(queryset[start : start + self.page_size])

    def get_paginated_data(self, items: Any) -> dict[str, Any]:
        return {
            "items": items,
            "total": self.total,
            "page": self.page,
            "page_size": self.page_size,
            "total_pages": math.ceil(self.total / self.page_size),
        }

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        count = {"type": "integer", "minimum": 0}
        return {
            "type": "object",
            "required": ["items", "total", "page", "page_size", "total_pages"],
            "properties": {
                "items": schema,
                "total": count,
                "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                "total_pages": count,
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        fields = PageQuery().fields
        bounds = {name: cast(serializers.IntegerField, field) for name, field in fields.items()}
        return [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {
                    "type": "integer",
                    "minimum": field.min_value,
                    "maximum": field.max_value,
                    "default": field.default,
                },
            }
            for name, field in bounds.items()
        ]
