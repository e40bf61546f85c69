"""Fixtures of the fault suite: its own processes, a clerk's token, and the figures it measured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.faults.processes import (
    PostgresServer,
    Processes,
    django_served_by,
    wait_for_no_other_sessions,
)

_figures: list[str] = []


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """The test's private services and subprocesses; all killed when the test ends."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()
        # Their sessions must be gone before the test database is flushed (and later dropped).
        wait_for_no_other_sessions()


@pytest.fixture
def private_database(processes: Processes) -> Iterator[PostgresServer]:
    """A private PostgreSQL server holding a copy of the test database, for tests that freeze
    it or make it read-only. While the test runs, this process's connection (the fixtures
    after this one, the checks) and ``database_url()`` (the subprocesses) use that copy."""
    server = processes.postgres()
    server.copy_database(connection.settings_dict["NAME"])
    with django_served_by(server):
        yield server


@pytest.fixture
def token(clerk: Any) -> str:
    """An API token of an order clerk, committed so the web server subprocess sees it."""
    return Token.objects.create(user=clerk).key


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a measured figure; the terminal summary lists them after the run."""

    def record(text: str) -> None:
        _figures.append(f"{request.node.name}: {text}")

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _figures:
        terminalreporter.section("fault suite figures")
        for line in _figures:
            terminalreporter.write_line(line)
