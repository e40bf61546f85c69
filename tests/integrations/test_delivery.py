"""Webhook deliveries to a real local HTTP receiver that verifies each with the
``standardwebhooks`` package: the body, the headers, log order, stopping at a failure, backoff,
failing and disabled, redirects not followed, addresses checked again at delivery."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from eventstore.store import RecordedEvent, append_to_stream, read_all
from eventstore.upcasting import register_upcaster, unregister_upcaster
from integrations import delivery, followers
from integrations.delivery import new_secret
from integrations.followers import backoff_seconds, deliver_batch
from integrations.models import Delivery, Webhook, WebhookStatus
from tests.eventstore.support import EVENT_KEYS, an_event, log_settled
from tests.integrations.receiver import Receiver, receiving

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def webhook_to(receiver: Receiver, **fields: Any) -> Webhook:
    secret = new_secret()
    receiver.secret = secret
    return Webhook.objects.create(url=receiver.url, secret=secret, **fields)


def logged(count: int, event_type: str = "ThingHappened", stream: str = "") -> list[RecordedEvent]:
    """``count`` events appended to one stream, as the log hands them to a follower."""
    stream_id = stream or f"thing-{uuid.uuid4()}"
    append_to_stream(
        stream_id,
        "Thing",
        [an_event(event_type, n=n) for n in range(count)],
        expected_version="any",
    )
    log_settled()
    return [e for e in read_all(limit=10_000) if e.stream_id == stream_id]


def test_each_event_is_posted_in_log_order_signed_per_standard_webhooks(
    receiver: Receiver,
) -> None:
    webhook = webhook_to(receiver)
    events = logged(3)
    handled = deliver_batch(webhook, events)
    assert handled == followers.Handled(3)
    # The receiver verified each signature with standardwebhooks (a bad one is refused).
    assert receiver.refused == []
    assert receiver.ids() == [str(e.event_id) for e in events]
    first = receiver.received[0]
    assert set(first.body) == {"type", "timestamp", "data"}
    assert first.body["type"] == "ThingHappened"
    assert set(first.body["data"]) == EVENT_KEYS
    assert first.body["data"]["position"] == events[0].global_position
    assert first.body["data"]["data"] == {"n": 0}
    assert first.body["timestamp"] == first.body["data"]["recorded_at"]
    assert first.headers["webhook-signature"].startswith("v1,")
    assert first.headers["content-type"] == "application/json"
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.ACTIVE
    assert webhook.last_delivery_at is not None
    rows = list(Delivery.objects.order_by("position"))
    assert [(r.position, r.attempt, r.status_code) for r in rows] == [
        (e.global_position, 1, 200) for e in events
    ]


def test_a_wrong_secret_fails_verification_at_the_receiver(receiver: Receiver) -> None:
    webhook = webhook_to(receiver)
    receiver.secret = new_secret()  # the receiver holds another endpoint's secret
    handled = deliver_batch(webhook, logged(1))
    assert handled.consumed == 0
    assert len(receiver.refused) == 1


def test_events_are_upcast_before_they_are_sent(receiver: Receiver) -> None:
    @register_upcaster("LegacyThing", 1)
    def to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "added_in_v2": True}

    try:
        webhook = webhook_to(receiver)
        deliver_batch(webhook, logged(1, "LegacyThing"))
    finally:
        unregister_upcaster("LegacyThing", 1)
    sent = receiver.bodies()[0]["data"]
    assert sent["schema_version"] == 2
    assert sent["data"] == {"n": 0, "added_in_v2": True}


def test_a_failure_stops_the_batch_there_and_backs_off(receiver: Receiver) -> None:
    events = logged(4)
    failing = str(events[1].event_id)
    receiver.answer = lambda path, body: 503 if body["data"]["event_id"] == failing else None
    webhook = webhook_to(receiver)
    before = timezone.now()
    handled = deliver_batch(webhook, events)
    assert handled.consumed == 1
    assert handled.not_before is not None
    assert timedelta(seconds=0.5) < handled.not_before - before < timedelta(seconds=2)
    assert receiver.ids() == [str(events[0].event_id)]
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.FAILING
    assert webhook.failing_since is not None
    assert "503" in webhook.last_error
    failed = Delivery.objects.get(status_code=503)
    assert (failed.event_id, failed.attempt) == (events[1].event_id, 1)

    # The next batches start at the failed event; each failure doubles the wait.
    waits = []
    for _ in range(3):
        handled = deliver_batch(webhook, events[1:])
        assert handled.consumed == 0
        assert handled.not_before is not None
        waits.append(handled.not_before)
    attempts = list(
        Delivery.objects.filter(event_id=events[1].event_id)
        .order_by("attempt")
        .values_list("attempt", flat=True)
    )
    assert attempts == [1, 2, 3, 4]
    receiver.answer = None
    handled = deliver_batch(webhook, events[1:])
    assert handled == followers.Handled(3)
    assert receiver.ids() == [str(e.event_id) for e in events]
    webhook.refresh_from_db()
    assert (webhook.status, webhook.failing_since, webhook.last_error) == ("active", None, "")


def test_backoff_doubles_from_one_second_up_to_an_hour() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_seconds(12) == 2048.0
    assert backoff_seconds(13) == 3600.0
    assert backoff_seconds(500) == 3600.0


def test_after_failing_for_the_disable_time_the_webhook_is_disabled(
    receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOKS_DISABLE_AFTER = "2h"
    receiver.answer = lambda path, body: 500
    webhook = webhook_to(
        receiver,
        status=WebhookStatus.FAILING,
        failing_since=timezone.now() - timedelta(hours=1),
    )
    events = logged(2)
    deliver_batch(webhook, events)
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.FAILING
    Webhook.objects.filter(pk=webhook.pk).update(
        failing_since=timezone.now() - timedelta(hours=2, seconds=1)
    )
    webhook.refresh_from_db()
    deliver_batch(webhook, events)
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED
    asked = len(receiver.requests)
    receiver.answer = None
    assert deliver_batch(webhook, events) == followers.Handled(0)  # stopped until enabled
    assert len(receiver.requests) == asked


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.answer = lambda path, body: 302 if path == "/hooks" else None
    webhook = webhook_to(receiver)
    handled = deliver_batch(webhook, logged(1))
    assert handled.consumed == 0
    assert receiver.requests == ["/hooks"]  # never /elsewhere
    failed = Delivery.objects.get()
    assert failed.status_code == 302
    assert "redirect" in failed.error


def test_a_slow_receiver_times_out(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "DELIVERY_TIMEOUT_SECONDS", 0.3)
    receiver.delay = 1.0
    webhook = webhook_to(receiver)
    handled = deliver_batch(webhook, logged(1))
    assert handled.consumed == 0
    failed = Delivery.objects.get()
    assert failed.status_code is None
    assert failed.error.startswith("timeout")


def test_a_receiver_that_is_down_is_a_failed_delivery(receiver: Receiver) -> None:
    webhook = webhook_to(receiver)
    receiver.stop()
    handled = deliver_batch(webhook, logged(1))
    assert handled.consumed == 0
    assert Delivery.objects.get().error.startswith("connection")


def test_the_address_is_checked_again_at_delivery(receiver: Receiver, settings: Any) -> None:
    """A URL allowed when the webhook was made, whose host now resolves to a private address
    (DNS rebinding, or a setting turned off), is refused at delivery: nothing is sent."""
    webhook = webhook_to(receiver)
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    handled = deliver_batch(webhook, logged(1))
    assert handled.consumed == 0
    assert receiver.requests == []
    assert Delivery.objects.get().error.startswith("url_not_allowed")


def test_events_of_other_types_are_passed_over(receiver: Receiver) -> None:
    webhook = webhook_to(receiver, event_types=["Wanted"])
    stream = f"thing-{uuid.uuid4()}"
    logged(2, "Unwanted", stream=stream)
    events = logged(1, "Wanted", stream=stream)
    everything = [e for e in read_all(limit=10_000) if e.stream_id == stream]
    assert len(everything) == 3
    assert deliver_batch(webhook, everything) == followers.Handled(3)
    assert receiver.ids() == [str(events[-1].event_id)]


def test_nothing_of_the_secret_is_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook = webhook_to(receiver)
    receiver.answer = lambda path, body: 500
    deliver_batch(webhook, logged(2))
    assert webhook.secret.removeprefix("whsec_") not in caplog.text
