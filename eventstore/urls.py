"""The event store's routes: the feed other systems follow the log through."""

from django.urls import re_path

from eventstore.api import EventFeedView

urlpatterns = [
    re_path(r"^events/?$", EventFeedView.as_view(), name="events"),
]
