"""The shipped-order e-mail subscriber, on Django's locmem e-mail backend: one e-mail per shipped
order to ORDER_SHIPPED_EMAIL_TO, the event id as its idempotency key, nothing personal in it or
in the logs; run by the engine like any follower (exactly once per committed checkpoint)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core import mail

from integrations.apps import start_subscribers
from integrations.shipping_emails import NAME
from integrations.subscribers import get
from projections.engine import runner
from projections.engine.generations import active_state
from projections.engine.models import ProjectionState
from tests.eventstore.support import log_settled
from tests.integrations.support import follow_until_read
from tests.projections import builders as b

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def locmem_mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ORDER_SHIPPED_EMAIL_TO = ["shipping-team@example.com"]


def shipped_order() -> str:
    order = b.place_order(customer_id="cust-77")
    b.ship(order["order_id"], carrier="UPS", tracking_number="1Z999")
    return str(order["order_id"])


def test_the_subscriber_is_registered_for_shipped_orders() -> None:
    assert get(NAME).event_types == frozenset({"OrderShipped"})


def test_an_email_goes_to_the_shipping_team_when_an_order_ships(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    order_id = shipped_order()
    follow_until_read([NAME])
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["shipping-team@example.com"]
    assert message.subject == f"Order {order_id} has shipped"
    assert "cust-77" in message.body
    assert "Carrier: UPS" in message.body
    assert "Tracking number: 1Z999" in message.body
    event_id = message.extra_headers["X-Idempotency-Key"]
    assert message.extra_headers["Message-ID"] == f"<{event_id}@orders-service>"
    # Nothing personal (the shipping address) in the e-mail, nor anything of it in the logs.
    for personal in ("1 Main St", "Springfield", "12345"):
        assert personal not in message.body
        assert personal not in caplog.text
    assert "shipping-team@example.com" not in caplog.text


def test_each_shipment_is_mailed_once_per_committed_checkpoint() -> None:
    shipped_order()
    follow_until_read([NAME])
    runner.run(NAME)
    b.place_order(customer_id="cust-78")  # not shipped: no e-mail
    follow_until_read([NAME])
    assert len(mail.outbox) == 1
    assert active_state(NAME).events_applied == 1


def test_without_recipients_nothing_is_sent_and_the_subscriber_moves_on(settings: Any) -> None:
    settings.ORDER_SHIPPED_EMAIL_TO = []
    shipped_order()
    follow_until_read([NAME])
    assert mail.outbox == []


def test_a_subscriber_new_to_a_database_starts_at_its_end() -> None:
    shipped_order()
    log_settled()
    ProjectionState.objects.filter(name=NAME).delete()  # as on a database it never met
    mail.outbox.clear()
    start_subscribers()
    follow_until_read([NAME])
    assert mail.outbox == []  # no e-mail for a shipment from before it started
    shipped_order()
    follow_until_read([NAME])
    assert len(mail.outbox) == 1


def test_an_smtp_server_that_refuses_fails_the_event_for_a_retry(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    settings.PROJECTION_RETRY_BACKOFF_SECONDS = 60
    shipped_order()
    log_settled()
    runner.run(NAME)
    state = active_state(NAME)
    assert state.error_position is not None  # to be tried again, not skipped
    assert "OrderShipped" in state.last_error
