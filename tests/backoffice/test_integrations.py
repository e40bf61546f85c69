"""Webhooks, deliveries and subscribers in the back office (Operations): listed with their
state, added with the secret shown once, enabled, deleted, delivered again; per role; in the
banner when in trouble; never the secret after its one showing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from backoffice import staleness
from backoffice.roles import ensure_roles
from eventstore.models import Event
from integrations import services
from integrations.models import Delivery, Webhook, WebhookStatus
from tests.backoffice.conftest import StaffFactory
from tests.integrations.receiver import Receiver, receiving
from tests.projections import builders as b

pytestmark = pytest.mark.django_db

WEBHOOKS = "/admin/integrations/webhook/"
DELIVERIES = "/admin/integrations/delivery/"
SUBSCRIBERS = "/admin/integrations/subscriberstate/"
PUBLIC_URL = "https://93.184.215.14/hooks"


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with receiving() as running:
        yield running


def role(django_user_model: type[User], group: str) -> Client:
    ensure_roles(apps)
    user = django_user_model.objects.create_user(username=f"{group}-member", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def test_an_operator_adds_a_webhook_and_sees_its_secret_once_only(
    django_user_model: type[User], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    operator = role(django_user_model, "projection-operators")
    form = operator.get(f"{WEBHOOKS}add/")
    assert form.status_code == 200
    answer = operator.post(
        f"{WEBHOOKS}add/",
        {
            "url": PUBLIC_URL,
            "event_types_text": "OrderShipped, OrderCancelled",
            "description": "ERP",
        },
    )
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    webhook = Webhook.objects.get()
    assert webhook.secret in answer.content.decode()
    assert webhook.event_types == ["OrderCancelled", "OrderShipped"]
    later = [
        operator.get(WEBHOOKS),
        operator.get(f"{WEBHOOKS}{webhook.pk}/change/"),
        operator.get(DELIVERIES),
        operator.get(SUBSCRIBERS),
        operator.get("/admin/"),
    ]
    for page in later:
        assert page.status_code == 200
        assert webhook.secret not in page.content.decode()
    assert "ERP" in later[0].content.decode()
    assert all(webhook.secret not in entry.object_repr for entry in LogEntry.objects.all())
    assert all(webhook.secret not in entry.change_message for entry in LogEntry.objects.all())
    assert webhook.secret.removeprefix("whsec_") not in caplog.text


def test_the_add_form_refuses_what_the_api_refuses(django_user_model: type[User]) -> None:
    operator = role(django_user_model, "projection-operators")
    for url in ("https://127.0.0.1/x", "https://10.0.0.1/x", "http://93.184.215.14/x"):
        answer = operator.post(f"{WEBHOOKS}add/", {"url": url})
        assert answer.status_code == 200
        assert "errornote" in answer.content.decode() or "errorlist" in answer.content.decode()
    assert not Webhook.objects.exists()


def test_the_list_shows_state_and_an_operator_enables_and_deletes(
    django_user_model: type[User],
) -> None:
    operator = role(django_user_model, "projection-operators")
    webhook = services.webhook_create(url=PUBLIC_URL, description="warehouse").webhook
    Webhook.objects.filter(pk=webhook.pk).update(
        status=WebhookStatus.DISABLED, failing_since=timezone.now(), last_error="http: HTTP 503"
    )
    page = operator.get(WEBHOOKS).content.decode()
    assert "disabled" in page and "HTTP 503" in page
    operator.post(WEBHOOKS, {"action": "enable", "_selected_action": [str(webhook.pk)]})
    assert Webhook.objects.get().status == WebhookStatus.ACTIVE
    operator.post(
        WEBHOOKS,
        {"action": "delete_selected", "_selected_action": [str(webhook.pk)], "post": "yes"},
    )
    assert not Webhook.objects.exists()


def test_support_sees_webhooks_and_subscribers_but_changes_nothing(
    django_user_model: type[User],
) -> None:
    support = role(django_user_model, "support")
    webhook = services.webhook_create(url=PUBLIC_URL).webhook
    for url in (WEBHOOKS, DELIVERIES, SUBSCRIBERS):
        assert support.get(url).status_code == 200, url
    assert support.get(f"{WEBHOOKS}add/").status_code == 403
    Webhook.objects.filter(pk=webhook.pk).update(status=WebhookStatus.DISABLED)
    support.post(WEBHOOKS, {"action": "enable", "_selected_action": [str(webhook.pk)]})
    assert Webhook.objects.get().status == WebhookStatus.DISABLED
    page = support.get("/admin/section/operations/").content.decode()
    for name in ("Webhooks", "Webhook deliveries", "Subscribers"):
        assert name in page


def test_clerks_see_no_webhooks(django_user_model: type[User]) -> None:
    clerk = role(django_user_model, "order-clerks")
    assert clerk.get(WEBHOOKS).status_code == 403
    assert clerk.get(DELIVERIES).status_code == 403


def test_deliveries_are_listed_by_webhook_and_delivered_again(
    django_user_model: type[User], receiver: Receiver
) -> None:
    operator = role(django_user_model, "projection-operators")
    created = services.webhook_create(url=receiver.url, description="mine")
    receiver.secret = created.secret
    other = services.webhook_create(url=receiver.url, description="other").webhook
    order = b.place_order(customer_id="c-1")
    event = Event.objects.get(stream_id__endswith=str(order["order_id"]))
    failed = Delivery.objects.create(
        webhook=created.webhook,
        event_id=event.event_id,
        position=event.global_position,
        attempt=1,
        status_code=500,
        error="http: HTTP 500",
        duration_ms=5,
        delivered_at=timezone.now(),
    )
    Delivery.objects.create(
        webhook=other,
        event_id=uuid.uuid4(),
        position=1,
        attempt=1,
        status_code=200,
        duration_ms=5,
        delivered_at=timezone.now(),
    )
    page = operator.get(f"{DELIVERIES}?webhook__id__exact={created.webhook.pk}").content.decode()
    assert "HTTP 500" in page
    assert page.count('name="_selected_action"') == 1  # the other webhook's are filtered out
    operator.post(DELIVERIES, {"action": "deliver_again", "_selected_action": [str(failed.pk)]})
    again = Delivery.objects.filter(webhook=created.webhook).order_by("-attempt").first()
    assert again is not None and (again.attempt, again.status_code) == (2, 200)
    assert receiver.ids() == [str(event.event_id)]


def test_a_disabled_webhook_is_in_the_banner_for_those_who_look_after_it(
    django_user_model: type[User], staff: StaffFactory
) -> None:
    webhook = services.webhook_create(url=PUBLIC_URL, description="the ERP").webhook
    Webhook.objects.filter(pk=webhook.pk).update(
        status=WebhookStatus.DISABLED, failing_since=timezone.now(), last_error="http: HTTP 410"
    )
    staleness.forget()
    operator = role(django_user_model, "projection-operators")
    page = operator.get("/admin/").content.decode()
    assert 'id="followers-banner"' in page
    banner = page.split('id="followers-banner"')[1].split("</div>")[0]
    assert "the ERP" in banner and "disabled" in banner and "HTTP 410" in banner
    clerk = role(django_user_model, "order-clerks")
    assert 'id="followers-banner"' not in clerk.get("/admin/").content.decode()
