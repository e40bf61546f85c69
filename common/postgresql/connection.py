"""A psycopg connection that gives up on a call the database does not answer in time.

A hung server (SIGSTOP, a frozen VM, a storage stall) defeats every server-side limit:
``statement_timeout`` is a timer of the frozen server, and its kernel still acknowledges TCP
and answers keepalives, so neither keepalives nor ``tcp_user_timeout`` notice. Only the
client can tell: psycopg runs every call (a query, a commit, a fetch) through
``Connection.wait``, which can stop after a timeout; here each call gets ``call_timeout``
seconds, then the connection is closed (its state is unknown: the server may still be in the
middle of the call) and the call raises OperationalError, which Django and the API answer as
a database that is down (503).

``SILENCES`` remembers, per server, when it last left this process without an answer (a call
given up, a connection not made within its connect timeout), so that for a moment after, new
connections to it are not even tried: while it hangs, requests are answered 503 at once
rather than each waiting out a timeout of its own (and the requests queued behind them).
A healthy server answers a connection within seconds: only a hung or unreachable one trips it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import errors
from psycopg.abc import RV, PQGen

# psycopg's own default: how often a waiting call wakes up to look at the clock.
_WAIT_INTERVAL = 0.1


class CallTimedOut(psycopg.OperationalError):
    """The database did not answer a call within the connection's ``call_timeout``."""


class Silences:
    """When each server (by a key, e.g. host:port) last left this process without an answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[str, float] = {}

    def unanswered(self, server: str) -> None:
        with self._lock:
            self._since[server] = time.monotonic()

    def answered(self, server: str) -> None:
        with self._lock:
            self._since.pop(server, None)

    def recent(self, server: str, within: float) -> float | None:
        """Seconds since ``server`` last left a call unanswered, if fewer than ``within``."""
        with self._lock:
            since = self._since.get(server)
        ago = None if since is None else time.monotonic() - since
        return ago if ago is not None and ago < within else None


SILENCES = Silences()


class BoundedConnection(psycopg.Connection[Any]):
    # None: calls wait as long as the server takes (psycopg's default).
    call_timeout: float | None = None
    server = ""  # its key in SILENCES

    def wait(
        self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None
    ) -> RV:
        limit = self.call_timeout
        if limit is None or (timeout is not None and timeout <= limit):
            # A caller's own, shorter timeout (waiting for notifications) is the caller's.
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, limit)
        except errors._WaitTimeout:
            SILENCES.unanswered(self.server)
            self.close()
            raise CallTimedOut(
                f"The database did not answer within {limit:g} s; the connection was closed."
            ) from None
