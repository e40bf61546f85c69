"""The write-side service: run a command in one transaction, with its idempotency record.

Nothing else in the project writes the event log for orders. After commit, a small Celery task
wakes the projections (eagerly when no broker is configured).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from structlog.contextvars import bound_contextvars

from common.metrics import COMMANDS
from orders import idempotency
from orders.domain.commands import Command
from orders.domain.errors import DomainError
from orders.domain.handlers import CommandResult, handle
from orders.repository import EventStoreOrderRepository
from projections.engine.wakeups import wake_projections

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    result: CommandResult
    replayed: bool = False  # the answer stored for a repeated Idempotency-Key


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
    """Decide ``command`` in one transaction; with an idempotency key, a repeat of the same
    request returns the first outcome and appends nothing. Counted and logged with its outcome
    (ok, replayed or the domain error's code); log lines within carry its type and order id."""
    command_type = type(command).__name__
    outcome = "error"
    with bound_contextvars(
        command_type=command_type,
        order_id=str(command.order_id),
        correlation_id=correlation_id,
    ):
        try:
            done = _execute(command, actor, correlation_id, idempotency_key, request_hash)
            outcome = "replayed" if done.replayed else "ok"
            return done
        except DomainError as exc:
            outcome = exc.code
            raise
        finally:
            COMMANDS.labels(command_type, outcome).inc()
            logger.info("command %s", outcome, extra={"outcome": outcome})


def _execute(
    command: Command,
    actor: str,
    correlation_id: str,
    idempotency_key: str | None,
    request_hash: str,
) -> CommandOutcome:
    """The command in one transaction with its idempotency record.

    The key is recorded after the events, in the same transaction, with ON CONFLICT DO NOTHING
    (on PostgreSQL by the append's own statement: idempotency.rider).
    A twin arriving at the same moment blocks on the key's unique index until the first
    commits, finds the key taken and rolls back; a repeat that the order's new state now
    refuses (cancelling twice, a stale If-Match) also finds the stored outcome. Either way the
    first outcome is answered. On PostgreSQL the happy path costs no statement more than no key.
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
            rider = None
            if idempotency_key is not None:
                rider = idempotency.rider(actor, idempotency_key, request_hash, command.order_id)
            repository = EventStoreOrderRepository(metadata, rider)
            result = handle(command, repository)
            if idempotency_key is not None:
                recorded = repository.rider_wrote
                if recorded is None:  # not written with the events (SQLite)
                    recorded = idempotency.record(actor, idempotency_key, request_hash, result)
                if not recorded:
                    raise _KeyTaken
            transaction.on_commit(wake_projections)
        return CommandOutcome(result)
    except (_KeyTaken, DomainError) as exc:
        if idempotency_key is None:
            raise
        stored = idempotency.lookup(actor, idempotency_key, request_hash)
        if stored is not None:
            return CommandOutcome(stored, replayed=True)
        if isinstance(exc, _KeyTaken):  # the key expired in between: nothing stands in the way
            return _execute(command, actor, correlation_id, idempotency_key, request_hash)
        raise
