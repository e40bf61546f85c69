"""Webhooks and Python subscribers as followers of the engine: each its own cursor from when it
was made, disabled ones stopped and resumed where they stopped, a subscriber's database writes
exactly once with its checkpoint and its outside effects at least once, poison handling with
retry and skip, and where they show (projection_status, /metrics)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from eventstore.store import RecordedEvent
from integrations import services, subscribers
from integrations.followers import follower_name
from integrations.models import Delivery, Webhook, WebhookStatus
from integrations.status import follower_status_list
from projections.engine import followers, poison
from projections.engine.generations import active_state
from tests.eventstore.support import log_settled
from tests.integrations.receiver import Receiver, receiving
from tests.integrations.support import follow_until_read
from tests.projections import builders as b

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.PROJECTION_RETRY_BACKOFF_SECONDS = 0
    settings.PROJECTION_MAX_ATTEMPTS = 3


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def webhook_to(receiver: Receiver, **fields: Any) -> Webhook:
    created = services.webhook_create(url=receiver.url, **fields)
    receiver.secret = created.secret
    return created.webhook


def order_events(count: int) -> list[str]:
    """``count`` orders placed (one event each), their order ids."""
    return [str(b.place_order(customer_id=f"cust-{n}")["order_id"]) for n in range(count)]


def test_a_webhook_gets_the_events_committed_after_it_was_made_in_log_order(
    receiver: Receiver,
) -> None:
    b.place_order(customer_id="before")
    log_settled()
    webhook = webhook_to(receiver)
    placed = order_events(3)
    follow_until_read([follower_name(webhook.id)])
    got = [body["data"]["data"]["order_id"] for body in receiver.bodies()]
    assert [g for g in got if g in placed] == placed
    assert all(body["data"]["data"]["customer_id"] != "before" for body in receiver.bodies())
    assert active_state(follower_name(webhook.id)).position > 0


def test_a_disabled_webhook_stops_and_resumes_where_it_stopped_when_enabled(
    receiver: Receiver,
) -> None:
    webhook = webhook_to(receiver)
    name = follower_name(webhook.id)
    order_events(2)
    follow_until_read([name])
    assert len(receiver.ids()) == 2
    Webhook.objects.filter(pk=webhook.pk).update(status=WebhookStatus.DISABLED)
    assert name not in [f.name for f in followers.provided()]
    missed = order_events(2)
    log_settled()
    with pytest.raises(LookupError):
        followers.get(name)  # the engine has nothing of it to run
    assert len(receiver.ids()) == 2
    services.webhook_enable(webhook_id=webhook.pk)
    follow_until_read([name])
    later = [body["data"]["data"]["order_id"] for body in receiver.bodies()[2:]]
    assert later == missed


def test_deleting_a_webhook_takes_its_cursor(receiver: Receiver) -> None:
    webhook = webhook_to(receiver)
    name = follower_name(webhook.id)
    order_events(1)
    follow_until_read([name])
    services.webhook_delete(webhook_id=webhook.pk)
    assert not Webhook.objects.exists()
    assert not Delivery.objects.exists()
    with pytest.raises(LookupError):
        followers.get(name)
    assert [row.name for row in follower_status_list() if row.kind == "webhook"] == []


def test_a_failing_webhook_is_retried_with_backoff_by_the_engine(receiver: Receiver) -> None:
    webhook = webhook_to(receiver)
    name = follower_name(webhook.id)
    receiver.answer = lambda path, body: 500
    order_events(2)
    log_settled()
    from projections.engine import runner

    runner.run(name)
    state = active_state(name)
    assert state.retry_at is not None  # the engine does not claim it before then
    assert runner.run(name) == 0
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.FAILING
    row = next(r for r in follower_status_list() if r.name == name)
    assert (row.status, row.lag_events) == ("failing", 2)
    receiver.answer = None
    services.webhook_enable(webhook_id=webhook.pk)  # also: try again now
    follow_until_read([name])
    assert len(receiver.ids()) == 2
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.ACTIVE


# --- Python subscribers -----------------------------------------------------------------------
@pytest.fixture
def counting_subscriber() -> Iterator[dict[str, Any]]:
    """A subscriber that writes a group per event (a database write) and notes each call (an
    outside effect); it fails once on the second event it sees, then works."""
    seen: dict[str, Any] = {"calls": [], "fail_on": None}

    def handler(event: RecordedEvent) -> None:
        seen["calls"].append(event.event_id)
        Group.objects.create(name=f"seen-{event.event_id}")
        if seen["fail_on"] is None and len(seen["calls"]) == 2:
            seen["fail_on"] = event.event_id
        if event.event_id == seen["fail_on"] and seen["calls"].count(event.event_id) == 1:
            raise RuntimeError("the warehouse is down")

    subscribers.subscriber("test-counter", event_types=["OrderCreated"])(handler)
    try:
        yield seen
    finally:
        subscribers._registry.pop("test-counter", None)


def test_a_subscribers_writes_commit_exactly_once_and_its_effects_at_least_once(
    counting_subscriber: dict[str, Any],
) -> None:
    order_events(4)
    follow_until_read(["test-counter"])
    # The engine isolated the failing event and retried it: the calls (outside effects) show
    # repeats, the rows written with the checkpoint do not.
    calls = counting_subscriber["calls"]
    assert len(set(calls)) == 4
    assert len(calls) > 4
    assert Group.objects.filter(name__startswith="seen-").count() == 4
    assert active_state("test-counter").events_applied == 4


def test_a_subscriber_that_keeps_failing_stops_and_an_operator_skips_the_event() -> None:
    def handler(event: RecordedEvent) -> None:
        raise ValueError("cannot handle this one")

    subscribers.subscriber("test-failing", event_types=["OrderCreated"])(handler)
    try:
        order_events(1)
        log_settled()
        from projections.engine import runner

        for _ in range(4):
            poison_state = active_state("test-failing")
            if poison_state.status == "failed":
                break
            runner.run("test-failing")
        row = next(r for r in follower_status_list() if r.name == "test-failing")
        assert row.status == "failed"
        assert "cannot handle this one" in row.last_error
        skip = poison.skip("test-failing", reason="not ours", actor="tests")
        assert skip.name == "test-failing"
        follow_until_read(["test-failing"])
        assert next(r for r in follower_status_list() if r.name == "test-failing").status == (
            "running"
        )
    finally:
        subscribers._registry.pop("test-failing", None)


# --- where they show --------------------------------------------------------------------------
def test_projection_status_and_metrics_show_webhooks_and_subscribers(
    receiver: Receiver, client: Client
) -> None:
    webhook = webhook_to(receiver, description="warehouse")
    order_events(1)
    follow_until_read([follower_name(webhook.id)])
    out = io.StringIO()
    call_command("projection_status", stdout=out)
    text = out.getvalue()
    assert follower_name(webhook.id) in text
    assert "shipping-emails" in text
    metrics = client.get("/metrics").content.decode()
    assert (
        f'integration_lag_events{{follower="{follower_name(webhook.id)}",kind="webhook"}} 0.0'
        in (metrics)
    )
    assert (
        'integration_status{follower="shipping-emails",kind="subscriber",status="running"} 1.0'
        in (metrics)
    )
    assert f'webhook_deliveries_total{{outcome="delivered",webhook="{webhook.id}"}}' in metrics
    assert webhook.secret not in metrics
