"""The write-side service: run a command in one transaction with its idempotency record.

Nothing else in the project writes the event log for orders. After commit, a small Celery task
wakes the projections (eagerly when no broker is configured).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from orders.domain.commands import Command, CreateOrder
from orders.domain.errors import DomainError
from orders.domain.handlers import CommandResult, default_bus
from orders.models import IdempotencyRecord
from orders.repository import EventStoreOrderRepository

logger = logging.getLogger(__name__)

IDEMPOTENCY_TTL: Final = timedelta(hours=25)
bus = default_bus()


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def _outcome(command: Command, result: CommandResult) -> CommandOutcome:
    return CommandOutcome(
        status_code=201 if isinstance(command, CreateOrder) else 200,
        body={
            "order_id": str(result.order_id),
            "version": result.version,
            "position": result.position,
        },
    )


def wake_projections() -> None:
    """Ask a worker to catch the projections up (runs inline when Celery is eager)."""
    try:
        current_app.tasks["projections.catch_up"].delay()
    except Exception:
        # Losing a wake-up only delays the read side: the beat sweep sends the same task.
        logger.warning("could not send the projections wake-up", exc_info=True)


def execute_command(
    command: Command,
    *,
    actor: str,
    correlation_id: str,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> CommandOutcome:
    """Dispatch ``command``; with an idempotency key, a repeat returns the first outcome."""
    metadata = {
        "command_id": str(command.command_id),
        "command_type": type(command).__name__,
        "correlation_id": correlation_id,
        "causation_id": str(command.command_id),
        "actor": actor,
    }
    with transaction.atomic():
        if idempotency_key is not None:
            replay = _claim_key(actor, idempotency_key, request_hash)
            if replay is not None:
                return replay
        result = bus.dispatch(command, EventStoreOrderRepository(metadata))
        outcome = _outcome(command, result)
        if idempotency_key is not None:
            IdempotencyRecord.objects.filter(actor=actor, key=idempotency_key).update(
                status_code=outcome.status_code, response=outcome.body
            )
        transaction.on_commit(wake_projections)
    return outcome


_CLAIM_SQL: Final = """
INSERT INTO orders_idempotencyrecord (actor, key, request_hash, created_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (actor, key) DO NOTHING
RETURNING id
"""


def _claim_key(actor: str, key: str, request_hash: str) -> CommandOutcome | None:
    """Insert the key for this request, or return the stored outcome of the first request.

    A concurrent request with the same key blocks on the unique index until the first one
    commits (then sees its outcome) or rolls back (then claims the key itself).
    """
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [actor, key, request_hash, timezone.now()])
        claimed = cursor.fetchone() is not None
    if claimed:
        return None
    record = IdempotencyRecord.objects.get(actor=actor, key=key)
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request.", key=key
        )
    if record.status_code is None or record.response is None:
        raise AssertionError("a committed idempotency record always holds its response")
    return CommandOutcome(record.status_code, dict(record.response), replayed=True)


def expire_idempotency_keys() -> int:
    """Delete keys older than the retention (kept at least 24 hours, as the contract says)."""
    cutoff = timezone.now() - IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
