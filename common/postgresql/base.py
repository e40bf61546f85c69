"""Django's PostgreSQL backend, with the limits of the process's role on every connection.

``OPTIONS["limits"]`` maps each role (common.postgresql.roles) to its ``statement_timeout``
and ``lock_timeout`` in milliseconds (0: none). A new connection starts with its role's two
limits set in the server session, and its calls are given up client-side shortly after the
statement timeout (common.postgresql.connection: the one limit a hung server cannot ignore);
for a moment after the server left a call unanswered, no new connection to it is tried.
Connecting is bounded by ``connect_timeout``; a dead peer or a cut network by TCP keepalives
and ``tcp_user_timeout`` (libpq options, also in ``OPTIONS``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Final

import psycopg
from django.db.backends.postgresql import base

from common.postgresql.connection import SILENCES, BoundedConnection
from common.postgresql.roles import current_role

LIMITS_OPTION: Final = "limits"
# False behind a transaction-mode pooler: the limits are then not sent as session settings
# (they would stay with a server connection other clients share); the role's own settings
# (ALTER ROLE ... SET) bound the server side, and the client-side call timeout still holds.
SESSION_LIMITS_OPTION: Final = "session_limits"
# How much longer than its statement timeout a call may take before the client gives up: the
# server's own timeout error (a statement cancelled) needs a moment to arrive.
CLIENT_GRACE_SECONDS: Final = 1.0


def _driver() -> ModuleType:
    """psycopg as Django's wrapper uses it (``Database``): the same module (Django maps its
    errors by their names there), with ``connect`` making BoundedConnections."""
    driver = ModuleType(psycopg.__name__, psycopg.__doc__)
    driver.__dict__.update({k: v for k, v in vars(psycopg).items() if not k.startswith("__")})
    driver.connect = BoundedConnection.connect  # type: ignore[attr-defined]
    return driver


class DatabaseWrapper(base.DatabaseWrapper):
    Database = _driver()

    def role_limits(self) -> tuple[int, int]:
        """This process's role's statement and lock timeouts, in milliseconds (0: none)."""
        limits = self.settings_dict["OPTIONS"].get(LIMITS_OPTION) or {}
        role = limits.get(current_role(), {})
        return int(role.get("statement_timeout", 0)), int(role.get("lock_timeout", 0))

    def call_timeout(self) -> float | None:
        """Seconds after which a call is given up client-side (None: never)."""
        statement_ms, _ = self.role_limits()
        return statement_ms / 1000 + CLIENT_GRACE_SECONDS if statement_ms else None

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.pop(LIMITS_OPTION, None)
        if not params.pop(SESSION_LIMITS_OPTION, True):
            return params
        statement_ms, lock_ms = self.role_limits()
        limits = f"-c statement_timeout={statement_ms} -c lock_timeout={lock_ms}"
        params["options"] = f"{params.get('options', '')} {limits}".strip()
        return params

    def server(self) -> str:
        """The server's key in SILENCES."""
        return f"{self.settings_dict['HOST'] or 'localhost'}:{self.settings_dict['PORT'] or 5432}"

    def connect_timeout(self) -> float:
        return float(self.settings_dict["OPTIONS"].get("connect_timeout") or 0)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        """A connection; refused at once for a moment (the connect timeout) after the server
        last left a call unanswered (common.postgresql.connection.SILENCES)."""
        server, hold = self.server(), self.connect_timeout()
        ago = SILENCES.recent(server, hold)
        if ago is not None:
            raise psycopg.OperationalError(
                f"The database did not answer {ago:.1f} s ago; not connecting again yet."
            )
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.errors.ConnectionTimeout:
            SILENCES.unanswered(server)
            raise
        SILENCES.answered(server)
        if isinstance(connection, BoundedConnection):
            connection.call_timeout = self.call_timeout()
            connection.server = server
        return connection

    def is_usable(self) -> bool:
        """Django's health check of a kept connection (CONN_HEALTH_CHECKS): given up as soon as
        connecting anew would be (a hung server costs the request one connect timeout more,
        not a whole call timeout), and failed at once while the server is silent."""
        connection = self.connection
        if not isinstance(connection, BoundedConnection) or connection.call_timeout is None:
            return bool(super().is_usable())
        if SILENCES.recent(self.server(), self.connect_timeout()) is not None:
            return False
        kept = connection.call_timeout
        connection.call_timeout = min(kept, self.connect_timeout() or kept)
        try:
            return bool(super().is_usable())
        finally:
            connection.call_timeout = kept
