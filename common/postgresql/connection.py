"""A psycopg connection that gives up on a call the database does not answer in time.

A hung server (SIGSTOP, a frozen VM, a storage stall) defeats every server-side limit:
``statement_timeout`` is a timer of the frozen server, and its kernel still acknowledges TCP
and answers keepalives, so neither keepalives nor ``tcp_user_timeout`` notice. Only the
client can tell: psycopg runs every call (a query, a commit, a fetch) through
``Connection.wait``, which can stop after a timeout; here each call gets ``call_timeout``
seconds, then the connection is closed (its state is unknown: the server may still be in the
middle of the call) and the call raises OperationalError, which Django and the API answer as
a database that is down (503).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors
from psycopg.abc import RV, PQGen

# psycopg's own default: how often a waiting call wakes up to look at the clock.
_WAIT_INTERVAL = 0.1


class CallTimedOut(psycopg.OperationalError):
    """The database did not answer a call within the connection's ``call_timeout``."""


class BoundedConnection(psycopg.Connection[Any]):
    # None: calls wait as long as the server takes (psycopg's default).
    call_timeout: float | None = None

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
            self.close()
            raise CallTimedOut(
                f"The database did not answer within {limit:g} s; the connection was closed."
            ) from None
