"""The project's URLs plus the bare baseline view; only bench.settings routes here, never
production (config.urls knows nothing of it)."""

from django.urls import include, path, re_path

from bench.views import BareInsertView

urlpatterns = [
    re_path(r"^bench/raw-insert/?$", BareInsertView.as_view(), name="bench-raw-insert"),
    path("", include("config.urls")),
]
