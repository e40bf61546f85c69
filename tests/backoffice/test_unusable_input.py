"""No back office page answers 500 to what is typed in its address: a NUL byte (which no
PostgreSQL text can hold) in any filter, search, cursor or id of any page is a 400 page of the
back office; an unknown page or stream is a 404 page of the back office, never the API's JSON."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.test import Client, RequestFactory

from eventstore.models import Event
from orders.streams import stream_id_for
from projections.engine.models import ProjectionSkip
from tests.projections.read_models.shop import Shop

pytestmark = pytest.mark.django_db

NUL = "%00"
# Parameters the lists read besides their filters: the keyset cursors of the log, the page,
# the sort, a field lookup staff follow from a link (customer_id), and one nobody uses.
EXTRA_PARAMETERS = ("before", "after", "p", "o", "customer_id", "stream_id", "nonsense")


def changelist_parameters(model_admin: Any, boss: Any) -> set[str]:
    """Every parameter a changelist's filters, date hierarchy and search box read."""
    request = RequestFactory().get("/")
    request.user = boss
    changelist = model_admin.get_changelist_instance(request)
    names = {SEARCH_VAR, *EXTRA_PARAMETERS}
    for spec in changelist.filter_specs:
        names.update(spec.expected_parameters())
    if model_admin.date_hierarchy:
        field = model_admin.date_hierarchy
        names.update(f"{field}__{part}" for part in ("year", "month", "day"))
    return names


def is_back_office_page(response: Any) -> bool:
    html = response.content.decode()
    return response["Content-Type"].startswith("text/html") and 'id="site-name"' in html


@pytest.fixture
def skip_record(admin_shop: Shop) -> ProjectionSkip:
    event = Event.objects.order_by("global_position").first()
    assert event is not None
    return ProjectionSkip.objects.create(
        name="order_views",
        generation=1,
        position=event.pk,
        event_id=event.event_id,
        event_type=event.event_type,
        reason="test",
        actor="tests",
    )


def test_a_nul_byte_in_any_filter_or_search_of_every_list_is_a_400_page(
    boss: Client, admin_shop: Shop, skip_record: ProjectionSkip, django_user_model: Any
) -> None:
    user = django_user_model.objects.get(username="boss")
    walked = []
    for model, model_admin in admin.site._registry.items():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for name in sorted(changelist_parameters(model_admin, user)):
            for query in (f"{name}={NUL}", f"{name}=a{NUL}b", f"{name}{NUL}=1"):
                response = boss.get(f"{url}?{query}")
                assert response.status_code == 400, (url, query, response.status_code)
                assert is_back_office_page(response), (url, query)
                assert "NUL character" in response.content.decode()
            walked.append((url, name))
    # Every list was walked, with the filters the issue named among them.
    for url, name in (
        ("/admin/projections/orderview/", "status"),
        ("/admin/projections/orderview/", "customer_id"),
        ("/admin/eventstore/event/", "event_type"),
        ("/admin/eventstore/event/", "stream_type"),
        ("/admin/projections/projectionskip/", "name"),
        ("/admin/projections/orderview/", SEARCH_VAR),
    ):
        assert (url, name) in walked
    assert {url for url, _ in walked} == {
        f"/admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry
    }


def test_a_nul_byte_in_an_id_a_form_or_the_login_is_a_400_page(
    boss: Client, admin_shop: Shop
) -> None:
    for url in (
        f"/admin/streams/Order-{NUL}/",
        f"/admin/streams/{quote(stream_id_for(admin_shop.o1))}/?to={NUL}",
        f"/admin/projections/orderview/{admin_shop.o1}/history/?to=1{NUL}",
        f"/admin/eventstore/event/1{NUL}/change/",
        f"/admin/streams/?q={NUL}",
        f"/admin/section/orders{NUL}/",
    ):
        response = boss.get(url)
        assert response.status_code == 400, url
        assert is_back_office_page(response), url
    cancel = boss.post(
        f"/admin/projections/orderview/{admin_shop.o1}/cancel/", {"reason": "out\x00of stock"}
    )
    assert cancel.status_code == 400
    login = Client().post("/admin/login/", {"username": "bo\x00ss", "password": "x\x00"})
    assert login.status_code == 400
    assert is_back_office_page(login)


def test_digits_that_are_no_number_are_no_position_nor_version(
    boss: Client, admin_shop: Shop
) -> None:
    """A superscript two is a digit to str.isdigit, and int() refuses it: no 500."""
    for url in (
        "/admin/eventstore/event/?before=²",
        "/admin/eventstore/event/?after=²",
        f"/admin/streams/{stream_id_for(admin_shop.o1)}/?to=²&version=²",
        f"/admin/projections/orderview/{admin_shop.o1}/history/?to=²",
    ):
        assert boss.get(url).status_code == 200, url


def test_an_unknown_page_or_stream_is_a_404_page_of_the_back_office(
    boss: Client, admin_shop: Shop
) -> None:
    for url in (
        "/admin/no-such-page/",
        "/admin/streams/Order-no-such-stream/",
        "/admin/projections/orderview/not-an-id/history/",
        f"/admin/projections/orderview/{uuid.uuid4()}/ship/",
        "/admin/section/no-such-section/",
    ):
        response = boss.get(url)
        assert response.status_code == 404, url
        assert is_back_office_page(response), url
    missing = boss.get("/admin/streams/Order-no-such-stream/").content.decode()
    assert "There is no stream &#x27;Order-no-such-stream&#x27; in the log." in missing
