"""A bound on the requests of one process that wait (long polls, read-your-writes waits).

A waiting request holds a server thread: a process that let every request wait could leave
none for commands and probes. Beyond the bound a request answers at once instead of waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


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
