"""Query routes of the order read models; every path answers with or without a trailing slash."""

from django.urls import re_path

from projections.read_models import api

urlpatterns = [
    re_path(r"^orders/search/?$", api.SearchOrdersView.as_view(), name="order-search"),
    re_path(
        r"^customers/(?P<customer_id>[^/]+)/orders/?$",
        api.CustomerOrdersView.as_view(),
        name="customer-orders",
    ),
    re_path(
        r"^customers/(?P<customer_id>[^/]+)/summary/?$",
        api.CustomerSummaryView.as_view(),
        name="customer-summary",
    ),
    re_path(r"^reports/daily-sales/?$", api.DailySalesView.as_view(), name="daily-sales"),
]
