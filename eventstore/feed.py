"""The feed: the log for other systems, page by page behind an opaque cursor, with long polls.

A cursor is a checkpoint (tx_id, position) signed with Django's signing (a salt of its own and
the log's identity: eventstore.models.LogIdentity), so a client can neither forge one nor bring
one from another database, where the same pair would mean other events. Pages come from
``read_all_matching``: gap-safe (an event of a slow transaction is never skipped), each stream
in version order, and past what the filters leave out.

A long poll with nothing to answer waits for a commit to be announced (eventstore.wakeups), not
by polling, holding neither a database connection nor a transaction while it waits; a process
holds at most settings.FEED_MAX_WAITS of them (common.waits), and answers further ones at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.core import signing
from django.db import connection

from common.metrics import FEED_EVENTS, FEED_WAITS
from common.waits import WaitSlots
from eventstore import wakeups
from eventstore.store import Checkpoint, Page, checkpoint_now, log_identity, read_all_matching

MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100
MAX_WAIT_SECONDS: Final = 30.0
# At most this many events are looked at for one filtered page (its cursor then moves past
# them even if none matched): a rare type costs a bounded read per request.
SCAN_LIMIT: Final = 10_000
# The cursor that means "the current end of the log".
NOW: Final = "now"
MAX_CURSOR_LENGTH: Final = 200

# While nothing tells this process of other processes' commits (no Redis, or it is down) a
# waiter re-reads at growing intervals. After a wake-up that brought nothing readable (an
# older transaction still running holds the page back), it also re-reads at growing
# intervals, up to the longest, then waits for wake-ups again. And it re-reads at least this
# often whatever it hears, in case a wake-up was lost (Redis restarted) or the transaction
# holding the page back wrote no event: a safety net, as the projections' beat sweep is.
FIRST_RETRY_SECONDS: Final = 0.005
LONGEST_RETRY_SECONDS: Final = 0.25
SAFETY_RECHECK_SECONDS: Final = 2.0

_SALT: Final = "eventstore.feed.cursor"
_PAYLOAD = re.compile(r"([0-9a-f]{1,16})-([0-9a-f]{1,16})\Z")
_MAX_BIGINT: Final = 2**63 - 1


class InvalidCursor(ValueError):
    """A cursor that is malformed, tampered with or from another database."""


def _signer() -> signing.Signer:
    # The log's identity in the salt: a cursor signed for another database does not verify.
    return signing.Signer(salt=f"{_SALT}:{log_identity()}", sep=".")


def encode_cursor(checkpoint: Checkpoint) -> str:
    return _signer().sign(f"{checkpoint.tx_id:x}-{checkpoint.position:x}")


def decode_cursor(cursor: str) -> Checkpoint:
    """The checkpoint ``cursor`` stands for; InvalidCursor unless this database signed it."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("The cursor is too long.")
    try:
        payload = _signer().unsign(cursor)
    except signing.BadSignature:
        raise InvalidCursor("The cursor was not issued by this service's log.") from None
    match = _PAYLOAD.match(payload)
    if match is None:  # signed by us, so this cannot happen short of a leaked secret key
        raise InvalidCursor("The cursor is malformed.")
    tx_id, position = (int(part, 16) for part in match.groups())
    if tx_id > _MAX_BIGINT or position > _MAX_BIGINT:
        raise InvalidCursor("The cursor is malformed.")
    return Checkpoint(tx_id, position)


def start_of(after: str | None) -> Checkpoint:
    """Where a request's ``after`` starts: the log's start, its current end, or a cursor."""
    if after is None:
        return Checkpoint()
    if after == NOW:
        return checkpoint_now()
    return decode_cursor(after)


@dataclass(frozen=True, slots=True)
class Filters:
    event_types: Sequence[str] = ()
    stream_types: Sequence[str] = ()


# How a long poll ended (the label of eventstore_feed_waits_total).
EVENTS: Final = "events"
TIMEOUT: Final = "timeout"
BUSY: Final = "busy"

_slots = WaitSlots(lambda: int(settings.FEED_MAX_WAITS))


def feed_page(after: Checkpoint, *, limit: int, wait: float, filters: Filters) -> Page:
    """The next events after ``after`` (at most ``limit``), waiting up to ``wait`` seconds for
    one when there is none yet; the page's checkpoint is the next cursor's."""
    deadline = time.monotonic() + wait
    since = wakeups.heard()
    page = _read(after, limit, filters)
    if page.events or wait <= 0:
        return _counted(page)
    with _slots.slot() as free:
        if not free:
            FEED_WAITS.labels(BUSY).inc()
            return page
        page = _wait(page, since, deadline, limit, filters)
    FEED_WAITS.labels(EVENTS if page.events else TIMEOUT).inc()
    return _counted(page)


def _wait(page: Page, since: int, deadline: float, limit: int, filters: Filters) -> Page:
    """Read again as commits are heard until ``page`` has events or ``deadline`` passes."""
    retry: float | None = None  # None: wait for a wake-up (up to the safety re-check)
    while (remaining := deadline - time.monotonic()) > 0:
        if retry is None and not wakeups.listening():
            retry = FIRST_RETRY_SECONDS
        step = SAFETY_RECHECK_SECONDS if retry is None else retry
        _release_connection()
        woken = wakeups.wait(since, min(step, remaining))
        since = wakeups.heard()
        before = page.checkpoint
        page = _read(before, limit, filters)
        if page.events:
            return page
        if page.checkpoint != before or not wakeups.listening():
            # Read (and filtered out) what was heard, or nothing can be heard: as before.
            retry = None if wakeups.listening() else _longer(retry)
        elif woken or retry is not None:
            # Heard, but nothing readable yet: an older transaction holds the log back, and
            # its commit may be no append (nothing to hear then). Re-read at growing intervals
            # for a moment, then wait for wake-ups again (the safety re-check covers the rest).
            retry = None if retry == LONGEST_RETRY_SECONDS else _longer(retry)
    return page


def _longer(retry: float | None) -> float:
    return FIRST_RETRY_SECONDS if retry is None else min(retry * 2, LONGEST_RETRY_SECONDS)


def _read(after: Checkpoint, limit: int, filters: Filters) -> Page:
    return read_all_matching(
        after,
        limit=limit,
        event_types=filters.event_types,
        stream_types=filters.stream_types,
        scan=SCAN_LIMIT,
    )


def _release_connection() -> None:
    """Give the database connection back before waiting: a wait of up to 30 s holds no
    session (nor, outside a caller's transaction, any transaction)."""
    if not connection.in_atomic_block:
        connection.close()


def _counted(page: Page) -> Page:
    if page.events:
        FEED_EVENTS.inc(len(page.events))
    return page
