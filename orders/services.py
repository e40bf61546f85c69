"""The write-side service: run a command in one transaction with its idempotency record.

Nothing else in the project writes the event log for orders. After commit, a small Celery task
wakes the projections (eagerly when no broker is configured).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from config.wakeups import wake
from eventstore.sql import fetch
from orders.domain.commands import Command, CreateOrder
from orders.domain.errors import DomainError
from orders.domain.handlers import CommandResult, default_bus
from orders.models import IdempotencyRecord
from orders.repository import EventStoreOrderRepository

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
    wake("projections.catch_up")


class _KeyTaken(Exception):
    """Another request recorded this idempotency key first; this attempt must roll back."""


def execute_command(
    command: Command,
    *,
    actor: str,
    correlation_id: str,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> CommandOutcome:
    """Dispatch ``command`` in one transaction; with an idempotency key, a repeat of the same
    request returns the first outcome and appends nothing.

    The key is recorded after the events, in the same transaction, with ON CONFLICT DO NOTHING.
    A twin arriving at the same moment blocks on the key's unique index until the first
    commits, finds the key taken and rolls back; a repeat that the order's new state now
    refuses (cancelling twice, a stale If-Match) also finds the stored outcome. Either way the
    first outcome is answered. The happy path costs one statement more than no key at all.
    """
    metadata = {
        "command_id": str(command.command_id),
        "command_type": type(command).__name__,
        "correlation_id": correlation_id,
        "causation_id": str(command.command_id),
        "actor": actor,
    }
    try:
        with transaction.atomic():
            outcome = _outcome(command, bus.dispatch(command, EventStoreOrderRepository(metadata)))
            if idempotency_key is not None and not _record_key(
                actor, idempotency_key, request_hash, outcome
            ):
                raise _KeyTaken
            transaction.on_commit(wake_projections)
        return outcome
    except (_KeyTaken, DomainError) as exc:
        if idempotency_key is None:
            raise
        stored = _stored_outcome(actor, idempotency_key, request_hash)
        if stored is not None:
            return stored
        if isinstance(exc, _KeyTaken):  # the key expired in between: nothing stands in the way
            return execute_command(
                command,
                actor=actor,
                correlation_id=correlation_id,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
        raise


_ENCODER: Final = DjangoJSONEncoder()
_RECORD_KEY_SQL: Final = """
INSERT INTO orders_idempotencyrecord (actor, key, request_hash, status_code, response, created_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (actor, key) DO NOTHING
RETURNING id
"""


def _record_key(actor: str, key: str, request_hash: str, outcome: CommandOutcome) -> bool:
    """Store the outcome under the key; False if the key is already taken."""
    body = _ENCODER.encode(outcome.body)
    params = [actor, key, request_hash, outcome.status_code, body, timezone.now()]
    return bool(fetch(_RECORD_KEY_SQL, params))


def _stored_outcome(actor: str, key: str, request_hash: str) -> CommandOutcome | None:
    record = IdempotencyRecord.objects.filter(actor=actor, key=key).first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request.", key=key
        )
    assert record.status_code is not None and record.response is not None
    return CommandOutcome(record.status_code, dict(record.response), replayed=True)


def expire_idempotency_keys() -> int:
    """Delete keys older than the retention (kept at least 24 hours, as the contract says)."""
    cutoff = timezone.now() - IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
