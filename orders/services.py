"""The write-side service: run a command in one transaction, with its idempotency record.

Nothing else in the project writes the event log for orders. After commit it sends
common.dispatch.command_committed, to which the read side connects the projections' wake-up
(a small Celery task, run eagerly when no broker is configured).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from structlog.contextvars import bound_contextvars

from common.dispatch import command_committed
from common.metrics import COMMANDS
from eventstore import store
from orders import idempotency
from orders.domain.commands import Command
from orders.domain.errors import DomainError
from orders.domain.handlers import CommandResult, handle
from orders.repository import EventStoreOrderRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    result: CommandResult
    replayed: bool = False  # the answer stored for a repeated Idempotency-Key


def announce_commit() -> None:
    """Run on a command's commit: whoever listens (the projections' wake-up) hears of it."""
    command_committed.send()


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
    """The command, atomically with its idempotency record.

    On PostgreSQL, outside any caller's transaction, the command's one write is one statement:
    the append, with the key recorded by the same statement (idempotency.command_record). It
    commits by itself: no BEGIN and COMMIT round trips. Elsewhere the command runs in a
    transaction (a savepoint inside the caller's) and the key is recorded after the events,
    with ON CONFLICT DO NOTHING.

    A twin arriving at the same moment blocks on the key's unique index until the first
    commits, finds the key taken and writes nothing; a repeat that the order's new state now
    refuses (cancelling twice, a stale If-Match) also finds the stored outcome. Either way the
    first outcome is answered.
    """
    metadata = {
        "command_id": str(command.command_id),
        "command_type": type(command).__name__,
        "correlation_id": correlation_id,
        "causation_id": str(command.command_id),
        "actor": actor,
    }
    record = None
    if idempotency_key is not None:
        record = idempotency.command_record(actor, idempotency_key, request_hash, command.order_id)
    alone = store.appends_in_one_statement() and not transaction.get_connection().in_atomic_block
    try:
        with nullcontext() if alone else transaction.atomic():
            repository = EventStoreOrderRepository(metadata, record)
            result = handle(command, repository)
            # Not written with the events (SQLite, or nothing appended): a statement of its own.
            if (
                idempotency_key is not None
                and not repository.record_written
                and not idempotency.record(actor, idempotency_key, request_hash, result)
            ):
                raise _KeyTaken
            transaction.on_commit(announce_commit)
        return CommandOutcome(result)
    except (_KeyTaken, DomainError, IntegrityError) as exc:
        if idempotency_key is None or (
            isinstance(exc, IntegrityError) and not idempotency.is_key_taken(exc)
        ):
            raise
        stored = idempotency.lookup(actor, idempotency_key, request_hash)
        if stored is not None:
            return CommandOutcome(stored, replayed=True)
        if not isinstance(exc, DomainError):  # the key expired in between: nothing in the way
            return _execute(command, actor, correlation_id, idempotency_key, request_hash)
        raise
