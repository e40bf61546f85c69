"""Generations: every registered projection has generation 1 once the database is migrated,
and reading which generation is active never writes (nor trusts a worker's memory of it)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from projections.engine import followers, runner
from projections.engine.generations import (
    GenerationMissing,
    active_generation,
    active_state,
    attach,
    create_first_generations,
    purge_retired,
    start_rebuild,
    switch,
)
from projections.models import OrderView, ProjectionState
from tests.projections import builders as b

pytestmark = pytest.mark.django_db(transaction=True)


def generations() -> set[tuple[str, int, bool, int]]:
    """(name, generation, active, position) of every projection state (other followers'
    cursors, a Python subscriber's made at migrate, aside)."""
    states = ProjectionState.objects.filter(name__in=[p.name for p in followers.registered()])
    return set(states.values_list("name", "generation", "active", "position"))


def fresh_generations() -> set[tuple[str, int, bool, int]]:
    return {(p.name, 1, True, 0) for p in followers.registered()}


def test_every_registered_projection_starts_with_an_active_empty_generation_one() -> None:
    # This test's database was just migrated (or flushed, which sends post_migrate again).
    assert generations() == fresh_generations()
    assert not OrderView.objects.exists()


def test_a_flushed_database_has_fresh_generation_ones_again(api: APIClient) -> None:
    order = b.place_order()
    b.catch_up_until_applied()
    call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())
    assert active_generation("order_views") == 2

    call_command("flush", interactive=False, verbosity=0)

    assert generations() == fresh_generations()
    assert not OrderView.objects.exists()
    assert api.get(f"/api/orders/{order['order_id']}").status_code == 404
    again = b.place_order()  # applied from the log's start into the fresh generation 1
    b.catch_up_until_applied()
    assert api.get(f"/api/orders/{again['order_id']}").status_code == 200


def test_migrating_again_keeps_the_generations_and_their_rows() -> None:
    b.place_order()
    b.catch_up_until_applied()
    before, rows = generations(), b.read_tables()

    create_first_generations()

    assert generations() == before
    assert b.read_tables() == rows


def test_without_an_active_generation_queries_answer_503_and_create_nothing(
    api: APIClient,
) -> None:
    order = b.place_order()
    b.catch_up_until_applied()
    ProjectionState.objects.filter(name="order_views").delete()

    for path in (f"/api/orders/{order['order_id']}", "/api/orders/search", "/api/projections"):
        response = api.get(path)
        assert response.status_code == 503, path
        assert response.json()["error"] == {
            "code": "service_unavailable",
            "message": "The read model order_views is not set up.",
            "details": {},
        }
    with pytest.raises(GenerationMissing, match=r"run `manage\.py migrate`"):
        active_generation("order_views")
    with pytest.raises(CommandError, match=r"run `manage\.py migrate`"):
        call_command("rebuild_projection", "order_views", "--no-progress", stdout=StringIO())
    assert not ProjectionState.objects.filter(name="order_views").exists()


def test_a_reader_never_serves_the_generation_a_worker_remembers_from_before_a_switch(
    api: APIClient,
) -> None:
    order = b.place_order()  # its wake-up runs the catch-up here: this process remembers gen 1
    b.catch_up_until_applied()
    remembered = runner._active_ids[("order_views", 0)]
    assert remembered[1] == 1
    # Another process rebuilds and switches, and gen 1's rows are dropped at once.
    live, target = active_state("order_views"), start_rebuild("order_views")
    runner.run("order_views", generation=target.generation)
    attach(target)
    switch(live, target)
    assert purge_retired(grace=timedelta(0)) == 1
    assert runner._active_ids[("order_views", 0)] == remembered

    assert active_generation("order_views") == 2
    assert api.get(f"/api/orders/{order['order_id']}").status_code == 200

    later = b.place_order()  # the catch-up finds its memory stale and follows the switch
    b.catch_up_until_applied()
    assert api.get(f"/api/orders/{later['order_id']}").status_code == 200
    assert runner._active_ids[("order_views", 0)][1] == 2
