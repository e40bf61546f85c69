"""The order of the projections' turns in a catch-up."""

from __future__ import annotations

import pytest

from projections.engine import runner
from projections.engine.tasks import catch_up

pytestmark = pytest.mark.django_db


def test_a_catch_up_turns_to_the_order_views_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read-your-writes queries (an order just changed) wait for the order views: after a
    wake-up they are applied before the reports."""
    turns: list[str] = []

    def turn(name: str, **options: object) -> tuple[int, bool]:
        turns.append(name)
        return 0, False

    monkeypatch.setattr(runner, "run_some", turn)
    catch_up()
    # (Then, Celery being eager here, the other queues' followers: a subscriber's.)
    assert turns[:3] == ["order_views", "customer_summaries", "daily_sales"]
