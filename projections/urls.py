"""The read side's routes: the projections' status, then the order read models' queries."""

from django.urls import include, re_path

from projections.engine.api import ProjectionsView

urlpatterns = [
    re_path(r"^projections/?$", ProjectionsView.as_view(), name="projections"),
    re_path(r"", include("projections.read_models.urls")),
]
