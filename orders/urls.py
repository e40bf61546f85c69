"""Command routes and log-backed reads; every path answers with or without a trailing slash."""

from django.urls import re_path

from orders.api import commands, customers, history

ORDER = r"(?P<order_id>[^/]+)"

urlpatterns = [
    re_path(r"^orders/?$", commands.CreateOrderView.as_view(), name="order-create"),
    re_path(rf"^orders/{ORDER}/items/?$", commands.AddItemView.as_view(), name="order-add-item"),
    re_path(
        rf"^orders/{ORDER}/items/(?P<product_id>[^/]+)/?$",
        commands.RemoveItemView.as_view(),
        name="order-remove-item",
    ),
    re_path(
        rf"^orders/{ORDER}/shipping-address/?$",
        commands.ShippingAddressView.as_view(),
        name="order-shipping-address",
    ),
    re_path(rf"^orders/{ORDER}/ship/?$", commands.ShipOrderView.as_view(), name="order-ship"),
    re_path(rf"^orders/{ORDER}/cancel/?$", commands.CancelOrderView.as_view(), name="order-cancel"),
    re_path(
        rf"^orders/{ORDER}/history/?$", history.OrderHistoryView.as_view(), name="order-history"
    ),
    re_path(rf"^orders/{ORDER}/state/?$", history.OrderStateView.as_view(), name="order-state"),
    re_path(
        r"^customers/(?P<customer_id>[^/]+)/forget/?$",
        customers.ForgetCustomerView.as_view(),
        name="customer-forget",
    ),
]
