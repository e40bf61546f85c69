"""The schema check every API answer goes through (tests/schema.py) refuses what it must."""

from __future__ import annotations

import pytest
from django.http import JsonResponse

from tests import schema

SHIP = "/api/orders/5b0c7bd6-8a0c-4a57-9a38-3cbb2f1f2f11/ship"
RESULT = {"order_id": "5b0c7bd6-8a0c-4a57-9a38-3cbb2f1f2f11", "version": 1, "position": 3}


def test_a_documented_answer_passes() -> None:
    schema.check("POST", SHIP, JsonResponse(RESULT))


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "complaint"),
    [
        ("POST", SHIP, {**RESULT, "extra": 1}, 200, "'extra' was unexpected"),
        ("POST", SHIP, {**RESULT, "order_id": "x"}, 200, "is not a 'uuid'"),
        ("POST", SHIP, RESULT, 418, "status 418 is not documented"),
        ("GET", "/api/nope", {"error": {"code": 1}}, 404, "'message' is a required property"),
    ],
    ids=["undocumented field", "wrong format", "undocumented status", "not the error shape"],
)
def test_an_answer_outside_the_schema_fails(
    method: str, path: str, body: dict[str, object], status: int, complaint: str
) -> None:
    with pytest.raises(AssertionError, match=complaint):
        schema.check(method, path, JsonResponse(body, status=status))
