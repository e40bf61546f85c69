"""Idempotency keys: a command sent again with the same key and body gets its first answer.

A key is scoped to the user who sent it. The record is written with the command's events: on
PostgreSQL by the append's own statement (``command_record``), elsewhere after them in the same
transaction with ON CONFLICT DO NOTHING (``record``; orders.services has the whole protocol).
It is kept at least 24 hours (the contract) before ``expire`` deletes it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from functools import cache
from typing import Any, Final

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError
from django.utils import timezone

from common.db import fetch
from eventstore.store import CommandRecord
from orders.domain.errors import DomainError
from orders.domain.handlers import CommandResult
from orders.models import KEY_CONSTRAINT, IdempotencyRecord

TTL: Final = timedelta(hours=25)


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


def fingerprint(method: str, path: str, query: str, body: Any) -> str:
    """What identifies "the same request": method, path (trailing slash aside), query, body."""
    canonical = json.dumps(body, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    raw = f"{method} {path.rstrip('/')}?{query}\n{canonical}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@cache
def record_sql() -> str:
    """One prepared statement: store the answer unless the key is taken (then no row)."""
    table = IdempotencyRecord._meta.db_table
    return (
        f"INSERT INTO {table} (actor, key, request_hash, response, created_at) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (actor, key) DO NOTHING RETURNING id"
    )


def command_record(actor: str, key: str, request_hash: str, order_id: uuid.UUID) -> CommandRecord:
    """The record, for the command's append to write in its own statement where the event
    store can (PostgreSQL): the same row as ``record``'s, one statement and round trip less.
    A key already taken fails that statement (``is_key_taken``) and nothing is appended."""
    return CommandRecord(
        table=IdempotencyRecord,
        actor=actor,
        key=key,
        request_hash=request_hash,
        answer={"order_id": str(order_id)},  # the store adds "version" and "position"
        created_at=timezone.now(),
    )


def is_key_taken(exc: IntegrityError) -> bool:
    """Whether ``exc`` is another command's record holding the key (the append failed)."""
    diag = getattr(exc.__cause__, "diag", None)
    return diag is not None and diag.constraint_name == KEY_CONSTRAINT


def result_body(result: CommandResult) -> dict[str, Any]:
    """A command's answer body, the same (key order included) first time and on replay."""
    return {
        "order_id": str(result.order_id),
        "version": result.version,
        "position": result.position,
    }


def record(actor: str, key: str, request_hash: str, result: CommandResult) -> bool:
    """Store ``result`` under ``key``; False if the key is already taken."""
    body = json.dumps(result_body(result), separators=(",", ":"))
    return bool(fetch(record_sql(), [actor, key, request_hash, body, timezone.now()]))


def lookup(actor: str, key: str, request_hash: str) -> CommandResult | None:
    """The result stored under ``key`` (None if none); IdempotencyKeyReused for another body."""
    stored = IdempotencyRecord.objects.filter(actor=actor, key=key).first()
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request.", key=key
        )
    body = stored.response
    return CommandResult(uuid.UUID(body["order_id"]), int(body["version"]), int(body["position"]))


def expire() -> int:
    """Delete keys older than the retention; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - TTL).delete()
    return deleted
