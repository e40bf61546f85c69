"""The example Python subscriber: an e-mail to the team that tells the customer (orders hold no
customer e-mail address) when an order ships, through Django's e-mail framework.

At least once: the event id is the message's idempotency key (``Message-ID`` and
``X-Idempotency-Key``), so a mail system or a person sees a repeat as the same message. The
e-mail names the order and its customer by their ids, the carrier and the tracking number:
nothing personal (the console backend prints it among the worker's log lines), and nothing
is logged of it.
"""

from __future__ import annotations

import logging
from typing import Final

from django.conf import settings
from django.core.mail import EmailMessage

from eventstore.store import RecordedEvent, read_stream
from integrations.subscribers import subscriber

logger = logging.getLogger(__name__)

NAME: Final = "shipping-emails"
MAIL_DOMAIN: Final = "orders-service"


@subscriber(NAME, event_types=["OrderShipped"])
def email_when_an_order_ships(event: RecordedEvent) -> None:
    recipients = list(settings.ORDER_SHIPPED_EMAIL_TO)
    if not recipients:
        return
    order_id = str(event.data.get("order_id", event.stream_id))
    key = str(event.event_id)
    message = EmailMessage(
        subject=f"Order {order_id} has shipped",
        body=_body(event, order_id),
        to=recipients,
        headers={"Message-ID": f"<{key}@{MAIL_DOMAIN}>", "X-Idempotency-Key": key},
    )
    message.send(fail_silently=False)  # a failure is raised: the event is tried again
    logger.info("shipped-order e-mail sent for event %s", key)


def _body(event: RecordedEvent, order_id: str) -> str:
    created = read_stream(event.stream_id, to_version=1, metadata=False)
    customer = created[0].data.get("customer_id", "") if created else ""
    carrier = event.data.get("carrier") or "(not given)"
    tracking = event.data.get("tracking_number") or "(not given)"
    return (
        f"Order {order_id} of customer {customer} shipped at "
        f"{event.recorded_at.isoformat(timespec='seconds')}.\n"
        f"Carrier: {carrier}\n"
        f"Tracking number: {tracking}\n\n"
        "Please let the customer know. If this message reaches you twice, it is the same "
        f"shipment (event {event.event_id}).\n"
    )
