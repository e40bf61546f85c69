"""Routes of the webhooks API; every path answers with or without a trailing slash."""

from django.urls import re_path

from integrations import api

urlpatterns = [
    re_path(r"^webhooks/?$", api.WebhooksView.as_view(), name="webhooks"),
    re_path(
        r"^webhooks/(?P<webhook_id>[^/]+)/deliveries/?$",
        api.DeliveriesView.as_view(),
        name="webhook-deliveries",
    ),
    re_path(
        r"^webhooks/(?P<webhook_id>[^/]+)/enable/?$",
        api.WebhookEnableView.as_view(),
        name="webhook-enable",
    ),
    re_path(r"^webhooks/(?P<webhook_id>[^/]+)/?$", api.WebhookDetailView.as_view(), name="webhook"),
]
