"""URL routes: the admin, the API (commands and queries), the OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from common.http.errors import json_not_found
from orders.api.commands import CancelOrderByDeleteView
from projections.read_models.api import OrderDetailView


class OrderResourceView(CancelOrderByDeleteView, OrderDetailView):
    """/api/orders/{id}: GET reads the order view (the read side), DELETE cancels the order (a
    command). The one route that joins both sides is wired here, above both."""


urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    # Its script a file of its own (?script): no inline script under the CSP (common.http.csp).
    re_path(r"^api/docs/?$", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    # /api/orders/search before the order routes: "search" is not an order id.
    path("api/", include("projections.urls")),
    path("api/", include("orders.urls")),
    re_path(
        r"^api/orders/(?P<order_id>[^/]+)/?$", OrderResourceView.as_view(), name="order-detail"
    ),
    # The feed: the log for other systems (GET /api/events).
    path("api/", include("eventstore.urls")),
    path("api/", include("integrations.urls")),
    # Unknown paths under /api/ answer in the contract's error shape (also with DEBUG on).
    re_path(r"^api/", json_not_found),
]

handler404 = "common.http.errors.json_not_found"
handler500 = "common.http.errors.json_server_error"
