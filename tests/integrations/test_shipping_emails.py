"""The shipped-order e-mail subscriber, on Django's locmem e-mail backend: one e-mail per shipped
order to ORDER_SHIPPED_EMAIL_TO, the event id as its idempotency key, nothing personal in it or
in the logs; run by the engine like any follower (exactly once per committed checkpoint)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core import mail

from integrations.shipping_emails import NAME
from integrations.subscribers import get
from tests.projections import builders as b

pytestmark = [pytest.mark.django_db(transaction=True)]


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
