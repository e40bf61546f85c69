"""Fixtures of the read-model tests: the shop, shared (read-only) or built per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from projections.engine.generations import create_first_generations
from tests.projections import builders as b
from tests.projections.conftest import Clock
from tests.projections.read_models.shop import T0, Shop, build_shop


@pytest.fixture(scope="module")
def shared_shop(django_db_setup: None, django_db_blocker: Any) -> Iterator[Shop]:
    """One committed shop for the tests that only read it."""
    clock = Clock(T0)
    try:
        with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
            patch.setattr(timezone, "now", lambda: clock.now)
            shop = build_shop(clock, wakes=False)
        yield shop
    finally:
        with django_db_blocker.unblock():
            b.delete_log_and_read_models()
            create_first_generations()  # as migrate leaves them, for the next module


@pytest.fixture
def shop(clock: Clock) -> Shop:
    """The shop for a test that writes more (transactional); commands apply in one batch."""
    return build_shop(clock, wakes=False)


@pytest.fixture
def woken_shop(clock: Clock) -> Shop:
    """The shop built as production builds it: every command wakes the projections."""
    return build_shop(clock, wakes=True)
