"""Helpers of the integrations' tests: run followers until they have read the log."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.cursors import place
from projections.engine import runner
from tests.waiting import wait_until


def follow_until_read(names: Sequence[str], *, timeout: float = 60.0) -> None:
    """Give the named followers turns (as the integrations worker does) until each has read
    every committed event (on PostgreSQL that waits for older transactions on the server)."""

    def read_everything() -> bool:
        for name in names:
            runner.run(name)
        return all(place(name).lag_events == 0 for name in names)

    wait_until(read_everything, timeout=timeout, interval=0.02, what=f"{names} to read the log")
