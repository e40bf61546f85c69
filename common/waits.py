"""Bounded waits (read-your-writes, the feed's long polls): how a wait ended, and how many a
process may hold at once.

A wait holds a request thread, so a process holds at most CONSISTENCY_MAX_WAITS
read-your-writes waits (and FEED_MAX_WAITS long polls) at a time: requests beyond them are
answered at once, and waiting readers can never take every thread from commands and probes.
Whoever waits (the event store for a commit, the projection engine for its checkpoints, the
feed) takes a slot and reports one of the outcomes below.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from django.conf import settings

# How a wait ended (the label of projection_consistency_waits_total): applied in time, timed
# out, refused at once for a position beyond the log's head or for want of a free wait.
FRESH: Final = "fresh"
STALE: Final = "stale"
BEYOND_HEAD: Final = "beyond_head"
BUSY: Final = "busy"

# A condition is first re-checked after this long, then at doubling intervals up to the longest.
FIRST_POLL_SECONDS: Final = 0.005
LONGEST_POLL_SECONDS: Final = 0.1


class WaitSlots:
    """How many waits this process holds; at most ``bound()`` (read at each wait, so that a
    settings change applies)."""

    def __init__(self, bound: Callable[[], int]) -> None:
        self._bound = bound
        self._lock = threading.Lock()
        self.held = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Inside, a wait is held if the context yields True (False: none was free)."""
        with self._lock:
            free = self.held < self._bound()
            if free:
                self.held += 1
        try:
            yield free
        finally:
            if free:
                with self._lock:
                    self.held -= 1


# The process's read-your-writes waits (the feed keeps its own: eventstore.feed).
slots = WaitSlots(lambda: int(settings.CONSISTENCY_MAX_WAITS))


def poll(condition: Callable[[], bool], deadline: float) -> bool:
    """Check ``condition`` at growing intervals until it holds (True) or ``deadline`` (a
    time.monotonic() value) passes (False)."""
    delay = FIRST_POLL_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(delay, remaining))
        if condition():
            return True
        delay = min(delay * 2, LONGEST_POLL_SECONDS)
    return False


def bounded_wait(condition: Callable[[], bool], deadline: float) -> str:
    """``poll`` in one of the process's wait slots: FRESH, STALE, or BUSY (no slot free)."""
    with slots.slot() as free:
        if not free:
            return BUSY
        return FRESH if poll(condition, deadline) else STALE


# The read side's wait until every projection has applied a position (set by projections.apps),
# so that a lower layer (orders' forget of a customer) waits for the read models without
# importing them. Unset (no read side installed): nothing to wait for.
_ReadModelsWait = Callable[[int, float], bool]
_read_models_wait: _ReadModelsWait | None = None


def set_read_models_wait(wait: _ReadModelsWait) -> None:
    global _read_models_wait  # noqa: PLW0603 - set once, at the read side's ready()
    _read_models_wait = wait


def wait_for_read_models(position: int, timeout: float) -> bool:
    """Wait (bounded) until every projection has applied ``position``; True if they have."""
    return True if _read_models_wait is None else _read_models_wait(position, timeout)
