"""Nothing in the back office changes the log or a read table by hand: not even a superuser,
not through a link, not by typing the URL, not by POSTing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models
from django.test import Client

from eventstore.models import Event
from orders.models import IdempotencyRecord
from projections.engine.models import ProjectionSkip, ProjectionState
from projections.read_models.models import CustomerSummary, DailySales, OrderView
from tests.projections.read_models.shop import Shop

pytestmark = pytest.mark.django_db


def snapshot(model: type[models.Model]) -> list[dict[str, Any]]:
    return list(model._default_manager.order_by("pk").values())


def object_id(row: models.Model) -> str:
    return str(row.order_id) if isinstance(row, OrderView) else str(row.pk)


@pytest.fixture
def skip_record(admin_shop: Shop) -> ProjectionSkip:
    event = Event.objects.first()
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


@pytest.mark.parametrize(
    "model",
    [Event, OrderView, CustomerSummary, DailySales, ProjectionState, ProjectionSkip],
)
def test_a_superuser_can_neither_add_change_nor_delete_by_url_or_post(
    boss: Client, admin_shop: Shop, skip_record: ProjectionSkip, model: type[models.Model]
) -> None:
    opts = model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    row = model._default_manager.order_by("pk").first()
    assert row is not None
    before = snapshot(model)
    target = f"{base}{object_id(row)}/"

    assert boss.get(f"{base}add/").status_code == 403
    assert boss.post(f"{base}add/", {"stream_id": "x", "customer_id": "x"}).status_code == 403
    assert (
        boss.post(f"{target}change/", {"status": "cancelled", "event_type": "X"}).status_code == 403
    )
    assert boss.get(f"{target}delete/").status_code == 403
    assert boss.post(f"{target}delete/", {"post": "yes"}).status_code == 403
    deleting = boss.post(
        base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert deleting.status_code in (200, 302)  # "no action selected": there is no such action
    assert snapshot(model) == before

    page = boss.get(f"{target}change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert f'href="{base}add/"' not in boss.get(base).content.decode()


def test_idempotency_records_are_read_only_too(boss: Client, admin_shop: Shop) -> None:
    record = IdempotencyRecord.objects.create(
        actor="a", key="k", request_hash="h", response={}, created_at="2024-03-01T10:00:00Z"
    )
    base = "/admin/orders/idempotencyrecord/"
    assert boss.post(f"{base}{record.pk}/change/", {"key": "z"}).status_code == 403
    assert boss.post(f"{base}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert IdempotencyRecord.objects.get().key == "k"
