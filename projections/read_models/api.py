"""The query API: views check every parameter, then wait for read-your-writes (if asked),
then answer the selector's rows through the output serializer that documents them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.http.consistency import CONSISTENCY_PARAMETERS
from common.http.errors import error_responses
from common.http.fields import DateQueryField, IdentifierField, StrictSerializer, validated
from common.http.pagination import PAGE_QUERY_PARAMS, ContractPagination
from orders.http import domain_errors_as_api_errors, parse_order_id
from orders.shapes import OrderViewOut
from projections.engine.api import QueryView
from projections.read_models import filters, queries, selectors
from projections.read_models.models import OrderView
from projections.read_models.serializers import CustomerSummaryOut, DailySalesOut


class OrderQueryView(QueryView):
    def answer_query(
        self, request: Request, query: queries.Query, body: Callable[[Any], Any]
    ) -> Response:
        """Wait for what feeds ``query`` (if asked), then answer ``body`` of the selector's
        result."""

        def read() -> Any:
            with domain_errors_as_api_errors():
                return body(selectors.answer(query))

        return self.answer(request, query.feeds, read)


class OrderDetailView(OrderQueryView):
    @extend_schema(
        operation_id="get_order",
        parameters=CONSISTENCY_PARAMETERS,
        responses={200: OrderViewOut, **error_responses(404)},
    )
    def get(self, request: Request, order_id: str) -> Response:
        self.query_params(request)
        query = queries.GetOrderById(order_id=parse_order_id(order_id))
        response = self.answer_query(request, query, lambda row: OrderViewOut(row).data)
        if response.status_code == 200:
            response["ETag"] = f'"{response.data["version"]}"'
        return response


class OrderPageView(OrderQueryView):
    """A page of order views, filtered by ``filterset_class`` (django-filter) and paged by the
    contract's pagination; both also give the OpenAPI schema its parameters."""

    filterset_class: type[django_filters.FilterSet]
    filter_backends = [DjangoFilterBackend]
    pagination_class = ContractPagination
    queryset = OrderView.objects.none()  # names the model for the schema; selectors read rows

    def filters(self, params: dict[str, str]) -> Any:
        """The filters among the request's ``params``, validated (400 if they are not)."""
        names = self.filterset_class.base_filters
        filterset = self.filterset_class({k: v for k, v in params.items() if k in names})
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        return filterset

    def answer_page(self, request: Request, query: queries.Query) -> Response:
        paginator = ContractPagination()
        paginator.requested(request)

        def page(rows: Any) -> dict[str, Any]:
            selected = selectors.with_items(paginator.paginate_queryset(rows, request, self))
            return paginator.get_paginated_data(OrderViewOut(selected, many=True).data)

        return self.answer_query(request, query, page)


class CustomerPath(StrictSerializer):
    customer_id = IdentifierField()


class CustomerOrdersView(OrderPageView):
    filterset_class = filters.CustomerOrdersFilter
    allowed_params = frozenset({*filterset_class.base_filters, *PAGE_QUERY_PARAMS})

    @extend_schema(
        operation_id="list_customer_orders",
        parameters=CONSISTENCY_PARAMETERS,
        responses={200: OrderViewOut(many=True), **error_responses()},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        customer = validated(CustomerPath, {"customer_id": customer_id})["customer_id"]
        found = self.filters(self.query_params(request))
        query = queries.GetCustomerOrders(customer_id=customer, filters=found)
        return self.answer_page(request, query)


class SortQuery(StrictSerializer):
    sort_by = serializers.ChoiceField(choices=queries.SORT_FIELDS, default="created_at")
    sort_order = serializers.ChoiceField(choices=queries.SORT_ORDERS, default="desc")


class SearchOrdersView(OrderPageView):
    filterset_class = filters.OrderSearchFilter
    allowed_params = frozenset(
        {*filterset_class.base_filters, *SortQuery().fields, *PAGE_QUERY_PARAMS}
    )

    @extend_schema(
        operation_id="search_orders",
        parameters=[SortQuery, *CONSISTENCY_PARAMETERS],
        responses={200: OrderViewOut(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        params = self.query_params(request)
        found = self.filters(params)
        sort = validated(SortQuery, {k: v for k, v in params.items() if k in SortQuery().fields})
        return self.answer_page(request, queries.SearchOrders(filters=found, **sort))


class CustomerSummaryView(OrderQueryView):
    @extend_schema(
        operation_id="get_customer_summary",
        parameters=CONSISTENCY_PARAMETERS,
        responses={200: CustomerSummaryOut, **error_responses()},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        self.query_params(request)
        customer = validated(CustomerPath, {"customer_id": customer_id})["customer_id"]
        query = queries.GetCustomerSummary(customer_id=customer)
        return self.answer_query(request, query, lambda row: CustomerSummaryOut(row).data)


class DateRangeQuery(serializers.Serializer[Any]):
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "from" is a Python keyword, so the fields are declared here rather than as attributes.
        return {
            "from": DateQueryField(required=False),
            "to": DateQueryField(required=False),
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"from": ["Must not be after to."]})
        return attrs


class DailySalesView(OrderQueryView):
    allowed_params = frozenset(DateRangeQuery().fields)

    @extend_schema(
        operation_id="daily_sales_report",
        parameters=[DateRangeQuery, *CONSISTENCY_PARAMETERS],
        responses={200: DailySalesOut(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        dates = validated(DateRangeQuery, self.query_params(request))
        query = queries.GetDailySales(date_from=dates.get("from"), date_to=dates.get("to"))
        return self.answer_query(request, query, lambda rows: DailySalesOut(rows, many=True).data)
