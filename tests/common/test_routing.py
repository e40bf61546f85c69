"""The replica router and the settings of transaction-mode pooling (docs/scaling.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.db import connections

from common.routing import REPLICA, ReplicaRouter, read_alias, replica_reads
from orders.models import IdempotencyRecord


@pytest.fixture
def with_replica() -> object:
    connections.settings[REPLICA] = dict(connections["default"].settings_dict)
    yield
    del connections.settings[REPLICA]


def test_without_a_replica_everything_goes_to_the_primary() -> None:
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_read(IdempotencyRecord) == "default"
        assert read_alias() == "default"


def test_with_a_replica_only_reads_inside_a_query_go_there(with_replica: object) -> None:
    router = ReplicaRouter()
    assert router.db_for_read(IdempotencyRecord) == "default"
    with replica_reads():
        assert router.db_for_read(IdempotencyRecord) == REPLICA
        assert router.db_for_write(IdempotencyRecord) == "default"
        assert read_alias() == REPLICA
    assert router.db_for_read(IdempotencyRecord) == "default"
    assert router.allow_migrate(REPLICA, "orders") is False
    assert router.allow_migrate("default", "orders") is True


def _settings_in(env: dict[str, str]) -> dict[str, object]:
    """The default database's settings and connection parameters in a fresh process."""
    code = (
        "import django, json; django.setup()\n"
        "from django.db import connections\n"
        "db = connections['default']\n"
        "params = db.get_connection_params()\n"
        "print(json.dumps({'options': params.get('options'),"
        " 'prepare_threshold': db.settings_dict['OPTIONS'].get('prepare_threshold'),"
        " 'server_side_cursors_off': db.settings_dict.get('DISABLE_SERVER_SIDE_CURSORS'),"
        " 'replica': 'replica' in connections.settings}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_transaction_pooling_sends_no_startup_options_and_prepares_nothing() -> None:
    url = "postgres://app@pooler:6432/orders"
    pooled = _settings_in({"DATABASE_URL": url, "DATABASE_POOL_MODE": "transaction"})
    direct = _settings_in({"DATABASE_URL": url, "DATABASE_POOL_MODE": "session"})

    assert pooled == {
        "options": None,
        "prepare_threshold": None,
        "server_side_cursors_off": True,
        "replica": False,
    }
    assert "statement_timeout" in str(direct["options"])
    assert "idle_in_transaction_session_timeout" in str(direct["options"])
    assert direct["prepare_threshold"] == 5
    replica = _settings_in({"DATABASE_URL": url, "DATABASE_REPLICA_URL": url})
    assert replica["replica"] is True
