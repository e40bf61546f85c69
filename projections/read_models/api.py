"""The query API: views translate HTTP into queries and answers, with read-your-writes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.http.consistency import CONSISTENCY_PARAMETERS
from common.http.errors import error_responses
from common.http.fields import IdentifierField, MoneyField, StrictSerializer, validated
from orders.api.commands import CancelOrderByDeleteView, parse_order_id
from orders.api.serializers import OrderViewOut
from orders.http import domain_errors_as_api_errors
from projections.engine.api import QueryView
from projections.read_models import queries, selectors


class OrderQueryView(QueryView):
    def answer_query(self, request: Request, query: queries.Query) -> Response:
        def read() -> Any:
            with domain_errors_as_api_errors():
                return selectors.answer(query)

        return self.answer(request, query.feeds, read)


MAX_PAGE = 1_000_000


class PageParams(StrictSerializer):
    page = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, required=False, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, required=False, default=20)


def page_serializer(name: str) -> Any:
    return inline_serializer(
        name,
        {
            "items": OrderViewOut(many=True),
            "total": serializers.IntegerField(),
            "page": serializers.IntegerField(),
            "page_size": serializers.IntegerField(),
            "total_pages": serializers.IntegerField(),
        },
    )


class OrderDetailView(OrderQueryView):
    @extend_schema(
        operation_id="get_order",
        parameters=CONSISTENCY_PARAMETERS,
        responses={200: OrderViewOut, **error_responses(404)},
    )
    def get(self, request: Request, order_id: str) -> Response:
        self.query_params(request)
        response = self.answer_query(
            request, queries.GetOrderById(order_id=parse_order_id(order_id))
        )
        if response.status_code == 200:
            response["ETag"] = f'"{response.data["version"]}"'
        return response


class CustomerOrdersParams(PageParams):
    status = serializers.ChoiceField(choices=queries.STATUSES, required=False)


class CustomerPath(StrictSerializer):
    customer_id = IdentifierField()


class CustomerOrdersView(OrderQueryView):
    allowed_params = frozenset({"status", "page", "page_size"})

    @extend_schema(
        operation_id="list_customer_orders",
        parameters=[
            OpenApiParameter("status", str, enum=list(queries.STATUSES), required=False),
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("page_size", int, required=False),
            *CONSISTENCY_PARAMETERS,
        ],
        responses={200: page_serializer("OrderPage"), **error_responses()},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        customer = validated(CustomerPath, {"customer_id": customer_id})["customer_id"]
        params = validated(CustomerOrdersParams, self.query_params(request))
        return self.answer_query(request, queries.GetCustomerOrders(customer_id=customer, **params))


class SearchParams(PageParams):
    q = serializers.CharField(max_length=200, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=queries.STATUSES, required=False)
    customer_id = IdentifierField(required=False)
    min_total = MoneyField(min_value=0, required=False)
    max_total = MoneyField(min_value=0, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    sort_by = serializers.ChoiceField(
        choices=queries.SORT_FIELDS, required=False, default="created_at"
    )
    sort_order = serializers.ChoiceField(choices=["asc", "desc"], required=False, default="desc")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("min_total"), attrs.get("max_total")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"min_total": ["Must not exceed max_total."]})
        return attrs


class SearchOrdersView(OrderQueryView):
    allowed_params = frozenset(SearchParams().fields)

    @extend_schema(
        operation_id="search_orders",
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=False,
                description="Customer id, product ids, "
                "city or cancel reason (full text on PostgreSQL).",
            ),
            OpenApiParameter("status", str, enum=list(queries.STATUSES), required=False),
            OpenApiParameter("customer_id", str, required=False),
            OpenApiParameter("min_total", str, required=False),
            OpenApiParameter("max_total", str, required=False),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME, required=False),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME, required=False),
            OpenApiParameter("sort_by", str, enum=list(queries.SORT_FIELDS), required=False),
            OpenApiParameter("sort_order", str, enum=["asc", "desc"], required=False),
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("page_size", int, required=False),
            *CONSISTENCY_PARAMETERS,
        ],
        responses={200: page_serializer("OrderSearchPage"), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        params = validated(SearchParams, self.query_params(request))
        if not params.get("q"):
            params.pop("q", None)
        return self.answer_query(request, queries.SearchOrders(**params))


class CustomerSummaryView(OrderQueryView):
    @extend_schema(
        operation_id="get_customer_summary",
        parameters=CONSISTENCY_PARAMETERS,
        responses={
            200: inline_serializer(
                "CustomerSummary",
                {
                    "customer_id": serializers.CharField(),
                    "order_count": serializers.IntegerField(),
                    "open_order_count": serializers.IntegerField(),
                    "cancelled_count": serializers.IntegerField(),
                    "lifetime_value": serializers.DecimalField(max_digits=18, decimal_places=2),
                    "last_order_at": serializers.DateTimeField(allow_null=True),
                },
            ),
            **error_responses(),
        },
    )
    def get(self, request: Request, customer_id: str) -> Response:
        self.query_params(request)
        customer = validated(CustomerPath, {"customer_id": customer_id})["customer_id"]
        return self.answer_query(request, queries.GetCustomerSummary(customer_id=customer))


class DailySalesView(OrderQueryView):
    allowed_params = frozenset({"from", "to"})

    @extend_schema(
        operation_id="daily_sales_report",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=False),
            OpenApiParameter("to", OpenApiTypes.DATE, required=False),
            *CONSISTENCY_PARAMETERS,
        ],
        responses={
            200: inline_serializer(
                "DailySalesRow",
                {
                    "date": serializers.DateField(),
                    "orders_placed": serializers.IntegerField(),
                    "orders_cancelled": serializers.IntegerField(),
                    "orders_shipped": serializers.IntegerField(),
                    "gross_revenue": serializers.DecimalField(max_digits=18, decimal_places=2),
                    "items_sold": serializers.IntegerField(),
                },
                many=True,
            ),
            **error_responses(),
        },
    )
    def get(self, request: Request) -> Response:
        params = self.query_params(request)
        parsed = validated(_DateRange, params)
        query = queries.GetDailySales(date_from=parsed.get("from"), date_to=parsed.get("to"))
        return self.answer_query(request, query)


class _DateRange(serializers.Serializer[Any]):
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "from" is a Python keyword, so the fields are declared here rather than as attributes.
        return {
            "from": serializers.DateField(required=False),
            "to": serializers.DateField(required=False),
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"from": ["Must not be after to."]})
        return attrs


class OrderResourceView(CancelOrderByDeleteView, OrderDetailView):
    """/api/orders/{id}: GET reads the order view, DELETE cancels the order (a command)."""
