"""Fuzzing the whole API with schemathesis against its served OpenAPI schema.

Every operation with data the schema allows and data it forbids, then sequences of calls
following the schema's links (create an order, then add to it, ship or cancel it, read it),
as an order clerk. Every check is on: no 5xx, status codes, headers and bodies as documented,
schema-valid requests accepted, schema-invalid ones refused. FUZZ_EXAMPLES,
FUZZ_STATEFUL_EXAMPLES and FUZZ_RANDOM set how hard it tries (README: the nightly run).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Permission, User
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from common.http import queries
from common.http.consistency import MinPosition
from config.wsgi import application
from eventstore import api as feed_api

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "25"))

# A schema-valid request the order's current state refuses is a correct answer: an unknown
# order (404), a business rule (409), a stale If-Match (412), a reused Idempotency-Key (422).
STATE_REFUSALS = ["2xx", "401", "403", "404", "409", "412", "422", "429"]
# Rules across parameters that OpenAPI 3.0 cannot state: min_total <= max_total, from <= to,
# version or at (not both) and a version the order has. Those operations may also answer 400.
# The feed's cursor is opaque: any text is schema-valid, and one this service did not sign is a
# 400 invalid_cursor.
CROSS_PARAMETER_RULES = ["search_orders", "daily_sales_report", "order_state", "follow_events"]

# The clerk's token (the fixture stores it): given as the run's header, schemathesis knows it
# as the real credentials and checks that requests without them, or with others, get 401.
TOKEN = "f0" * 20
AUTHORIZATION = {"Authorization": f"Token {TOKEN}"}
CONFIG = schemathesis.Config.from_dict(
    {
        "headers": AUTHORIZATION,
        "generation": {"mode": "all"},
        "checks": {"positive_data_acceptance": {"expected-statuses": STATE_REFUSALS}},
        "operations": [
            {
                "include-operation-id": name,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*STATE_REFUSALS, "400"]}
                },
            }
            for name in CROSS_PARAMETER_RULES
        ],
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)
FUZZ_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    # The same examples every run in CI; FUZZ_RANDOM=1 (nightly) explores new ones.
    "derandomize": os.environ.get("FUZZ_RANDOM") != "1",
}


@pytest.fixture
def clerk_token(clerk: User) -> None:
    # The clerk may also read the feed, so that its parameters are fuzzed past the 403.
    clerk.user_permissions.add(
        Permission.objects.get(content_type__app_label="eventstore", codename="read_events")
    )
    Token.objects.create(user=clerk, key=TOKEN)


@pytest.fixture(autouse=True)
def short_consistency_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated queries ask for positions far ahead with timeouts up to 30 s: still checked
    as sent, but waited for at most 10 ms, or fuzzing would mostly wait."""
    read = queries.min_position_of

    def capped(request: Any) -> MinPosition | None:
        asked = read(request)
        return asked and replace(asked, timeout=min(asked.timeout, 0.01))

    monkeypatch.setattr(queries, "min_position_of", capped)
    # The feed's long polls likewise.
    page = feed_api.feed_page

    def short_page(after: Any, *, wait: float, **kwargs: Any) -> Any:
        return page(after, wait=min(wait, 0.01), **kwargs)

    monkeypatch.setattr(feed_api, "feed_page", short_page)


@schema.parametrize()
@settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)
@pytest.mark.usefixtures("clerk_token")
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTHORIZATION)


@pytest.mark.usefixtures("clerk_token")
def test_sequences_following_the_links_answer_as_the_schema_says() -> None:
    schema.as_state_machine().run(
        settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, **FUZZ_SETTINGS)
    )
