"""Each webhook a follower of the log (projections.engine.followers), provided one per row:
its batch's events POSTed in log order, stopping at the first that fails (retried with
backoff), and what that does to the webhook's state. Each Python subscriber is a follower too.
Both run on the Celery queue ``integrations`` (a worker with ``--pool=threads``), never on the
projections' workers: a slow or dead receiver delays neither the projections nor, beyond its
own thread, another endpoint.

The HTTP calls are made before anything is written: the batch's transaction takes no
transaction id while a receiver is slow, so it holds no other follower of the log back (the
gap-safe read waits for open writers). The attempts and the webhook's state are written at
the end, and commit with the checkpoint; a worker killed after a receiver answered but before
that commit sends those events again (receivers drop duplicates by ``webhook-id``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from common.metrics import SUBSCRIBER_EVENTS, WEBHOOK_DELIVERIES, WEBHOOK_RETRIES
from eventstore.store import RecordedEvent
from integrations import addresses, delivery
from integrations.models import Delivery, Webhook, WebhookStatus
from integrations.subscribers import Subscriber, all_subscribers
from projections.engine.followers import Batch, Follower
from projections.engine.wakeups import CATCH_UP, wake

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS: Final = 1.0
MAX_BACKOFF_SECONDS: Final = 3600.0
# A batch starts no new delivery after this long, or a quarter of the lease if shorter (so a
# batch ends within its lease, one delivery of up to 10 s included, and far within the
# database's idle-in-transaction limit); the rest go in the next batch, at once.
BATCH_SECONDS: Final = 5.0
PREFIX: Final = "webhook:"
# The Celery queue webhooks and subscribers run on (a worker of its own: Procfile).
QUEUE: Final = "integrations"


def follower_name(webhook_id: object) -> str:
    return f"{PREFIX}{webhook_id}"


class WebhookFollower(Follower):
    """One webhook's cursor over the log (``webhook:<id>``), made anew each time the engine
    looks (the row as it is then: a disabled webhook has none, so it stops)."""

    queue = QUEUE
    # A POST per event: a batch reads what it can deliver in its time (the rest would be
    # read again by the next batch).
    batch_size = 100

    def __init__(self, webhook: Webhook) -> None:
        self.webhook = webhook
        self.name = follower_name(webhook.id)  # type: ignore[misc]  # per instance: provided
        self.handles = frozenset(webhook.event_types) or None  # type: ignore[misc]

    def handle(self, events: Sequence[RecordedEvent], batch: Batch) -> int | None:
        handled = deliver_batch(self.webhook, events)
        batch.retry_at = handled.not_before
        if handled.consumed < len(events) and handled.not_before is None:
            # Out of time, not failing: a turn that stops early ends the catch-up, so ask for
            # the next one now (the sweep would, but seconds later).
            transaction.on_commit(_continue)
        return handled.consumed


class SubscriberFollower(Follower):
    """A Python subscriber's cursor over the log: its function called on each event of its
    types inside the batch's transaction (its database writes commit with the checkpoint)."""

    queue = QUEUE

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.name = subscriber.name  # type: ignore[misc]  # per instance: provided
        self.handles = subscriber.event_types  # type: ignore[misc]

    def handle(self, events: Sequence[RecordedEvent], batch: Batch) -> int | None:
        handled = self.subscriber.handle(events)
        name = self.name
        transaction.on_commit(lambda: SUBSCRIBER_EVENTS.labels(name).inc(handled))
        return None


def _continue() -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:  # eager: the caller's loop goes on by itself
        wake(CATCH_UP, QUEUE)


def webhook_followers() -> list[Follower]:
    """The engine's provider: a follower per webhook that is not disabled."""
    rows = Webhook.objects.exclude(status=WebhookStatus.DISABLED).order_by("created_at", "id")
    return [WebhookFollower(webhook) for webhook in rows]


def subscriber_followers() -> list[Follower]:
    """The engine's provider: a follower per registered Python subscriber."""
    return [SubscriberFollower(subscriber) for subscriber in all_subscribers()]


@dataclass(frozen=True)
class Handled:
    """How a batch went: its first ``consumed`` events are done (the checkpoint moves past
    them), and the rest wait until ``not_before`` (None: go on at once)."""

    consumed: int
    not_before: datetime | None = None


def deliver_batch(webhook: Webhook, events: Sequence[RecordedEvent]) -> Handled:
    """POST ``events`` (in log order) to ``webhook`` until one fails, then record the
    attempts and the webhook's new state in the caller's transaction."""
    if webhook.status == WebhookStatus.DISABLED:
        return Handled(0)
    wanted = frozenset(webhook.event_types)
    tried: list[tuple[RecordedEvent, delivery.Attempt]] = []
    consumed = 0
    deadline = time.monotonic() + min(BATCH_SECONDS, settings.PROJECTION_LEASE_SECONDS / 4)
    try:
        # Resolved once a batch; every POST of it goes to the address checked here.
        target = addresses.check(webhook.url)
    except (addresses.UrlNotAllowed, addresses.UrlInvalid) as exc:
        target, refusal = None, delivery.refused(exc)
    with delivery.client() as client:
        for event in events:
            if wanted and event.event_type not in wanted:
                consumed += 1
                continue
            if tried and time.monotonic() > deadline:
                break
            if target is None:
                tried.append((event, refusal))
                break
            attempt = delivery.deliver(client, webhook.url, webhook.secret, event, target)
            tried.append((event, attempt))
            if not attempt.succeeded:
                break
            consumed += 1
    if not tried:
        return Handled(consumed)
    rows = record_all(webhook, [(e.event_id, e.global_position, a) for e, a in tried])
    last = rows[-1]
    if not last.succeeded:
        return Handled(consumed, failed(webhook, tried[-1][1], last.attempt))
    delivered(webhook, last.delivered_at)
    return Handled(consumed)


def record(
    webhook: Webhook, event_id: uuid.UUID, position: int, attempt: delivery.Attempt
) -> Delivery:
    """Record one attempt (in the caller's transaction), numbered among the attempts to
    deliver that event there, and counted in the metrics once it commits."""
    return record_all(webhook, [(event_id, position, attempt)])[0]


def record_all(
    webhook: Webhook, made: Sequence[tuple[uuid.UUID, int, delivery.Attempt]]
) -> list[Delivery]:
    """Record attempts, each (event id, position, attempt) (in the caller's transaction, two
    statements whatever their number), each numbered among the attempts to deliver its event
    there, and count them in the metrics once they commit."""
    earlier = dict(
        Delivery.objects.filter(webhook=webhook, event_id__in=[m[0] for m in made])
        .values("event_id")
        .annotate(n=Max("attempt"))
        .values_list("event_id", "n")
    )
    rows = [
        Delivery(
            webhook=webhook,
            event_id=event_id,
            position=position,
            attempt=earlier.get(event_id, 0) + 1,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            delivered_at=attempt.at,
        )
        for event_id, position, attempt in made
    ]
    Delivery.objects.bulk_create(rows)
    label = str(webhook.id)
    outcomes = Counter(attempt.outcome for _, _, attempt in made)
    retries = sum(1 for row in rows if row.attempt > 1)

    def count() -> None:
        for outcome, n in outcomes.items():
            WEBHOOK_DELIVERIES.labels(label, outcome).inc(n)
        if retries:
            WEBHOOK_RETRIES.labels(label).inc(retries)

    transaction.on_commit(count)
    return rows


def backoff_seconds(attempt: int) -> float:
    """After failed attempt ``attempt``: 1 s, 2 s, 4 s ... up to an hour."""
    return float(min(FIRST_BACKOFF_SECONDS * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS))


def disable_after() -> timedelta:
    """WEBHOOKS_DISABLE_AFTER: seconds, or a number with s, m, h or d (24h by default)."""
    value: object = settings.WEBHOOKS_DISABLE_AFTER
    if isinstance(value, timedelta):
        return value
    text = str(value).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    unit = text[-1:]
    number = text[:-1] if unit in units else text
    return timedelta(seconds=float(number) * units.get(unit, 1))


def failed(webhook: Webhook, attempt: delivery.Attempt, number: int) -> datetime:
    """Mark ``webhook`` failing, or disabled once it has failed for WEBHOOKS_DISABLE_AFTER,
    after attempt ``number`` of an event failed; returns when to try that event again."""
    since = webhook.failing_since or attempt.at
    disabled = attempt.at - since >= disable_after()
    webhook.status = WebhookStatus.DISABLED if disabled else WebhookStatus.FAILING
    webhook.failing_since = since
    webhook.last_error = attempt.error
    Webhook.objects.filter(pk=webhook.pk).update(
        status=webhook.status, failing_since=since, last_error=attempt.error
    )
    if disabled:
        logger.warning("webhook %s disabled: failing since %s", webhook.id, since.isoformat())
    return attempt.at + timedelta(seconds=backoff_seconds(number))


def delivered(webhook: Webhook, at: datetime) -> None:
    """Deliveries to ``webhook`` go through (again): active, no error."""
    webhook.status, webhook.failing_since, webhook.last_error = WebhookStatus.ACTIVE, None, ""
    webhook.last_delivery_at = at
    Webhook.objects.filter(pk=webhook.pk).update(
        status=WebhookStatus.ACTIVE, failing_since=None, last_error="", last_delivery_at=at
    )
