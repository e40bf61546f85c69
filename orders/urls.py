"""Command routes and log-backed reads; every path answers with or without a trailing slash."""

from django.urls import re_path

from orders import api

ORDER = r"(?P<order_id>[^/]+)"

urlpatterns = [
    re_path(r"^orders/?$", api.CreateOrderView.as_view(), name="order-create"),
    re_path(rf"^orders/{ORDER}/items/?$", api.AddItemView.as_view(), name="order-add-item"),
    re_path(
        rf"^orders/{ORDER}/items/(?P<product_id>[^/]+)/?$",
        api.RemoveItemView.as_view(),
        name="order-remove-item",
    ),
    re_path(
        rf"^orders/{ORDER}/shipping-address/?$",
        api.ShippingAddressView.as_view(),
        name="order-shipping-address",
    ),
    re_path(rf"^orders/{ORDER}/ship/?$", api.ShipOrderView.as_view(), name="order-ship"),
    re_path(rf"^orders/{ORDER}/cancel/?$", api.CancelOrderView.as_view(), name="order-cancel"),
    re_path(rf"^orders/{ORDER}/history/?$", api.OrderHistoryView.as_view(), name="order-history"),
    re_path(rf"^orders/{ORDER}/state/?$", api.OrderStateView.as_view(), name="order-state"),
]
