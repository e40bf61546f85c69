"""Queries on a read replica: DATABASE_REPLICA_URL sends the query endpoints' reads of the read
models to a streaming replica, and read-your-writes holds there.

A private primary (a copy of the test database) and its streaming replica (pg_basebackup -R,
its own port). With the replica's replay paused, a command commits and its projections apply
it on the primary; a query asking for that position waits on the checkpoint *as the replica
sees it* and answers ``X-Consistency: stale`` with the replica's older row, though the primary
has it. Replay resumed, the same query answers ``fresh`` with the new row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connections
from rest_framework.test import APIClient

from common.routing import REPLICA
from projections.models import ProjectionState
from tests.faults.processes import PostgresServer, Processes, django_served_by
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

ORDER = {
    "customer_id": "cust-replica",
    "currency": "EUR",
    "items": [{"product_id": "SKU-1", "quantity": 1, "unit_price": "10.00"}],
    "shipping_address": {
        "line1": "1 Main St",
        "city": "Lisbon",
        "postal_code": "1000-001",
        "country": "PT",
    },
}


def _scalar(server: PostgresServer, sql: str) -> Any:
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        row = admin.execute(sql).fetchone()
        assert row is not None
        return row[0]


def replayed_all(primary: PostgresServer, replica: PostgresServer) -> bool:
    """Whether the replica has replayed everything the primary has written so far."""
    written = _scalar(primary, "SELECT pg_current_wal_lsn()::text")
    return bool(_scalar(replica, f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn"))


@pytest.fixture
def replicated(processes: Processes) -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A private primary holding a copy of the test database and its streaming replica; while
    the test runs, ``default`` is the primary and ``replica`` (as DATABASE_REPLICA_URL makes
    it) the replica."""
    primary = processes.postgres()
    name = connections["default"].settings_dict["NAME"]
    primary.copy_database(name)
    replica = processes.replica(primary)
    with django_served_by(primary):
        settings_dict = {**connections["default"].settings_dict, "PORT": str(replica.port)}
        connections.settings[REPLICA] = settings_dict
        # Connected here: the test case allows no new connection to an alias it was not told
        # of (the request client keeps it open across requests).
        connections[REPLICA].connect()
        try:
            yield primary, replica
        finally:
            connections[REPLICA].close()
            del connections[REPLICA]
            del connections.settings[REPLICA]


def test_min_position_is_fresh_on_the_replica_only_once_the_replica_has_the_write(
    replicated: tuple[PostgresServer, PostgresServer], api: APIClient
) -> None:
    primary, replica = replicated
    created = api.post("/api/orders", ORDER, format="json")
    assert created.status_code == 201, created.content
    order_id, first = created.json()["order_id"], created.json()["position"]
    wait_until(lambda: replayed_all(primary, replica), timeout=30, what="the replica to replay")
    seen = api.get(f"/api/orders/{order_id}", {"min_position": first, "consistency_timeout": 5})
    assert seen.status_code == 200
    assert seen["X-Consistency"] == "fresh"

    _scalar(replica, "SELECT pg_wal_replay_pause()")
    wait_until(
        lambda: _scalar(replica, "SELECT pg_get_wal_replay_pause_state()") == "paused",
        timeout=10,
        what="replay to pause",
    )
    added = api.post(
        f"/api/orders/{order_id}/items",
        {"product_id": "SKU-2", "quantity": 2, "unit_price": "5.00"},
        format="json",
    )
    assert added.status_code == 200, added.content
    position = added.json()["position"]
    # The primary's projections have applied it (the eager catch-up ran at commit) ...
    states = ProjectionState.objects.using("default").filter(active=True)
    assert all(state.position >= position for state in states)

    # ... the replica has not: stale, with the replica's row (the order before the command).
    stale = api.get(
        f"/api/orders/{order_id}", {"min_position": position, "consistency_timeout": 0.5}
    )
    assert stale["X-Consistency"] == "stale"
    assert stale.status_code == 200
    assert stale.json()["version"] == 1
    without = api.get(f"/api/orders/{order_id}")  # no min_position: the replica, no header
    assert "X-Consistency" not in without
    assert without.json()["version"] == 1

    _scalar(replica, "SELECT pg_wal_replay_resume()")
    fresh = api.get(
        f"/api/orders/{order_id}", {"min_position": position, "consistency_timeout": 10}
    )
    assert fresh["X-Consistency"] == "fresh"
    assert fresh.json()["version"] == 2
    assert [item["product_id"] for item in fresh.json()["items"]] == ["SKU-1", "SKU-2"]
