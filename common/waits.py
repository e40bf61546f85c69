"""Bounded read-your-writes waits: how a wait ended, and how many a process may hold at once.

A wait holds a request thread, so a process holds at most CONSISTENCY_MAX_WAITS at a time:
readers beyond them are answered stale at once, and waiting readers can never take every
thread from commands and probes. Whoever waits (the event store for a commit, the projection
engine for its checkpoints) takes a slot here and reports one of the outcomes below.
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
    """How many waits this process holds; at most settings.CONSISTENCY_MAX_WAITS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Inside, a wait is held if the context yields True (False: none was free)."""
        with self._lock:
            free = self.held < settings.CONSISTENCY_MAX_WAITS
            if free:
                self.held += 1
        try:
            yield free
        finally:
            if free:
                with self._lock:
                    self.held -= 1


# The process's one pool of waits, shared by every kind of wait.
slots = WaitSlots()


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
