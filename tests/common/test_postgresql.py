"""The PostgreSQL backend bounds every database call by the role of its process: server-side
timeouts per role, and calls given up client-side when the server hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

from common.postgresql.connection import SILENCES
from tests.faults.processes import PostgresServer, Processes
from tests.waiting import wait_until

pytestmark = pytest.mark.postgres

ROLES = ("web", "worker", "maintenance")
MARGIN = 1.5  # seconds a loaded machine may add to a timeout


def wrapper(**changes: Any) -> BaseDatabaseWrapper:
    """A new connection wrapper of the configured backend, with ``changes`` to its settings."""
    db = {**connection.settings_dict, **changes}
    db["OPTIONS"] = {**connection.settings_dict["OPTIONS"], **changes.get("OPTIONS", {})}
    wrapper: BaseDatabaseWrapper = load_backend(db["ENGINE"]).DatabaseWrapper(db, DEFAULT_DB_ALIAS)
    return wrapper


def setting_ms(db: BaseDatabaseWrapper, name: str) -> int:
    with db.cursor() as cursor:
        cursor.execute("SELECT setting::int FROM pg_settings WHERE name = %s", [name])
        return int(cursor.fetchone()[0])


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_a_connection_starts_with_its_process_role_s_limits(
    role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_ROLE", role)
    limits = settings.DATABASES[DEFAULT_DB_ALIAS]["OPTIONS"]["limits"][role]
    db = wrapper()
    try:
        statement = setting_ms(db, "statement_timeout")
        lock = setting_ms(db, "lock_timeout")
        call_timeout = db.connection.call_timeout
    finally:
        db.close()

    assert (statement, lock) == (limits["statement_timeout"], limits["lock_timeout"])
    if limits["statement_timeout"]:
        assert call_timeout == limits["statement_timeout"] / 1000 + 1
    else:
        assert call_timeout is None  # maintenance: as long as it takes


def test_an_unknown_role_is_refused_with_the_roles_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_ROLE", "webb")

    with pytest.raises(Exception, match="web, worker, maintenance"):
        wrapper().get_connection_params()


# --- a hung server --------------------------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Iterator[PostgresServer]:
    processes = Processes(tmp_path)
    try:
        yield processes.postgres()
    finally:
        processes.close()


def timed(call: Callable[[], Any], limit: float) -> tuple[Any, float]:
    """Run ``call`` in a thread; (its result or exception, seconds). Fails if it runs longer
    than ``limit`` (the thread is left to end once the server is thawed)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=limit)
    elapsed = time.monotonic() - started
    assert outcome, f"still waiting after {elapsed:.1f} s: the call is not bounded"
    return outcome[0], elapsed


def select_one(db: BaseDatabaseWrapper) -> Any:
    with db.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()


@pytest.mark.django_db
def test_every_call_of_a_web_process_to_a_hung_server_ends_in_time(
    server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_ROLE", "web")
    options: dict[str, Any] = {"connect_timeout": 2}
    if "limits" in connection.settings_dict["OPTIONS"]:  # shorter than configured: a lean test
        options["limits"] = {"web": {"statement_timeout": 1000, "lock_timeout": 1000}}
    on_server = {"HOST": "127.0.0.1", "PORT": str(server.port), "NAME": "postgres"}
    on_server["OPTIONS"] = options
    call_timeout, connect_timeout = 1000 / 1000 + 1, 2
    kept, busy, new = wrapper(**on_server), wrapper(**on_server), wrapper(**on_server)
    for db in (kept, busy, new):
        db.inc_thread_sharing()  # each call below runs in a thread of its own
    assert select_one(kept) == select_one(busy) == (1,)

    server.freeze()
    try:
        # Django's health check of a kept connection gives up as soon as connecting would.
        usable, seconds = timed(kept.is_usable, connect_timeout + 10)
        assert usable is False
        assert seconds < connect_timeout + MARGIN

        # A call is given up after the call timeout, and its connection closed.
        error, seconds = timed(lambda: select_one(busy), call_timeout + 10)
        assert isinstance(error, OperationalError), error
        assert "did not answer within 2 s" in str(error)
        assert call_timeout - 0.2 <= seconds < call_timeout + MARGIN
        assert busy.connection is None or busy.connection.closed

        # Right after, a new connection is not even tried: the server was just silent.
        error, seconds = timed(lambda: select_one(new), 10)
        assert isinstance(error, OperationalError), error
        assert "not connecting again yet" in str(error)
        assert seconds < 0.5

        # A moment later it is tried again, bounded by the connect timeout (the kernel
        # accepts the connection, nobody answers).
        silent = f"127.0.0.1:{server.port}"
        wait_until(lambda: SILENCES.recent(silent, connect_timeout) is None, timeout=10)
        error, seconds = timed(lambda: select_one(new), connect_timeout + 10)
        assert isinstance(error, OperationalError), error
        assert connect_timeout - 0.2 <= seconds < connect_timeout + MARGIN
    finally:
        server.thaw()

    def connects_again() -> bool:
        new.close()
        try:
            return bool(select_one(new) == (1,))
        except OperationalError:
            return False  # until the moment after the last silence has passed

    wait_until(connects_again, timeout=30, interval=0.2, what="a connection after the thaw")
    for db in (kept, busy, new):
        db.close()
        assert select_one(db) == (1,)  # the server is back: new connections work
        db.close()
