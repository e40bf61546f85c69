"""The broker connection the Celery app makes (config.celery): how it behaves once it is lost.

No broker runs here: a port of the suite's range where nothing listens stands for a broker that
is gone, and kombu's sleeps between attempts are recorded instead of slept.
"""

from __future__ import annotations

import logging

import kombu
import pytest
from kombu.exceptions import OperationalError
from kombu.utils import functional

from config.celery import RECONNECT_EVERY_SECONDS, app
from tests.faults.processes import free_port

pytestmark = [pytest.mark.faults]


@pytest.fixture
def gone_broker_url() -> str:
    return f"redis://127.0.0.1:{free_port(set())}/0"


def test_a_lost_broker_is_tried_again_every_few_seconds_however_long_it_stays_away(
    gone_broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(functional, "sleep", slept.append)
    announced: list[float] = []  # what a worker logs: "Trying again in N seconds"

    # What a worker's consumer and beat do after losing the broker (with a bounded budget).
    connection = app.connection_for_read(gone_broker_url)
    with pytest.raises(OperationalError):
        connection.ensure_connection(
            lambda exc, interval: announced.append(interval), max_retries=30
        )

    assert len(announced) == 30
    assert 0 < max(announced) <= RECONNECT_EVERY_SECONDS  # kombu alone grows it to 30 s
    assert sum(slept) <= 30 * RECONNECT_EVERY_SECONDS


def test_closing_a_lost_broker_connection_never_raises(
    gone_broker_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Seen once in a broker outage: kombu's channel cleanup raised AttributeError out of the
    consumer's close of its lost connection, and the worker stopped ("Unrecoverable error")."""

    def broken_release(self: kombu.Connection) -> None:
        raise AttributeError("'NoneType' object has no attribute 'hostname'")

    monkeypatch.setattr(kombu.Connection, "release", broken_release)
    caplog.set_level(logging.WARNING, logger="config.celery")  # an embedded worker sets ERROR
    connection = app.connection_for_read(gone_broker_url)

    connection.close()
    connection.release()

    assert caplog.text.count("closing a broker connection failed") == 2
