"""URL routes: the admin, the API (commands and queries), the OpenAPI schema and docs."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import json_not_found
from orders.api import CancelOrderByDeleteView
from projections.api import OrderDetailView


class OrderResourceView(CancelOrderByDeleteView, OrderDetailView):
    """/api/orders/{id}: GET reads the order view, DELETE cancels the order (a command)."""


urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("projections.urls")),
    path("api/", include("orders.urls")),
    re_path(
        r"^api/orders/(?P<order_id>[^/]+)/?$", OrderResourceView.as_view(), name="order-detail"
    ),
    # Unknown paths under /api/ answer in the contract's error shape (also with DEBUG on).
    re_path(r"^api/", json_not_found),
]

handler404 = "config.api.json_not_found"
handler500 = "config.api.json_server_error"
