"""Forgetting a customer: their personal data erased from everything the service shows.

The customer's key goes (eventstore.personal: each personal field of theirs in the log reads
"[erased]" from then on, everywhere, in a rebuild too) and an event of their own stream records
who forgot them, when and why (no personal data in it). The read models scrub what they had
shown when they apply that event; the answer waits (bounded) until they have.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from structlog.contextvars import bound_contextvars

from common.dispatch import command_committed
from common.metrics import COMMANDS
from common.waits import wait_for_read_models
from eventstore import store

CUSTOMER_STREAM_TYPE: Final = "Customer"
CUSTOMER_FORGOTTEN: Final = "CustomerForgotten"
MAX_REASON_LENGTH: Final = 500

logger = logging.getLogger(__name__)


def customer_stream_id(customer_id: str) -> str:
    return f"{CUSTOMER_STREAM_TYPE}-{customer_id}"


@dataclass(frozen=True, slots=True)
class ForgetOutcome:
    customer_id: str
    forgotten_at: datetime
    position: int
    first: bool  # this call forgot them (False: they were forgotten before; the first's answer)


def forget_customer(
    customer_id: str, reason: str, *, actor: str, correlation_id: str, wait: bool = True
) -> ForgetOutcome:
    """Forget ``customer_id`` (again: the first forget's answer, nothing written); with
    ``wait``, return once the read models have scrubbed them (bounded). A caller forgetting
    several waits once, for the last one's position (``wait_for_read_models``)."""
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise ValueError(f"A reason of 1..{MAX_REASON_LENGTH} characters is needed")
    command_id = str(uuid.uuid4())
    with bound_contextvars(command_type="ForgetCustomer", correlation_id=correlation_id):
        outcome = "error"
        try:
            with transaction.atomic():
                at = timezone.now()
                done = store.forget_subject(
                    customer_id,
                    stream_id=customer_stream_id(customer_id),
                    stream_type=CUSTOMER_STREAM_TYPE,
                    at=at,
                    event=store.NewEvent(
                        CUSTOMER_FORGOTTEN,
                        {
                            "customer_id": customer_id,
                            "reason": reason,
                            "forgotten_by": actor,
                            "forgotten_at": at.isoformat(),
                        },
                        metadata={
                            "command_id": command_id,
                            "command_type": "ForgetCustomer",
                            "correlation_id": correlation_id,
                            "causation_id": command_id,
                            "actor": actor,
                        },
                    ),
                )
                if done.first:
                    transaction.on_commit(command_committed.send)
            outcome = "ok" if done.first else "replayed"
        finally:
            COMMANDS.labels("ForgetCustomer", outcome).inc()
            logger.info("command %s", outcome, extra={"outcome": outcome})
    assert done.position is not None  # set with the forget, in its transaction
    if wait:
        wait_for_read_models(done.position, settings.BACKOFFICE_CONSISTENCY_TIMEOUT)
    return ForgetOutcome(customer_id, done.forgotten_at, done.position, done.first)
