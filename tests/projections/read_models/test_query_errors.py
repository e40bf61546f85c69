"""Malformed and anonymous queries, and queries without a selector."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from common.dispatch import NoHandlerError
from projections.read_models import queries, selectors
from tests.projections.read_models.shop import reads

# --- errors ---------------------------------------------------------------------------------
ORDER = "5b0c7bd6-8a0c-4a57-9a38-3cbb2f1f2f11"
TOO_LONG_ID = "x" * 65


@reads
@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/customers/alice/orders", {"page": "0"}, "page"),
        ("/api/customers/alice/orders", {"page": "-1"}, "page"),
        ("/api/customers/alice/orders", {"page": "abc"}, "page"),
        ("/api/customers/alice/orders", {"page": "1.5"}, "page"),
        ("/api/customers/alice/orders", {"page_size": "0"}, "page_size"),
        ("/api/customers/alice/orders", {"page_size": "101"}, "page_size"),
        ("/api/customers/alice/orders", {"status": "bogus"}, "status"),
        ("/api/customers/alice/orders", {"sort_by": "created_at"}, "sort_by"),
        ("/api/customers/bad id!/orders", {}, "customer_id"),
        (f"/api/customers/{TOO_LONG_ID}/orders", {}, "customer_id"),
        ("/api/customers/bad id!/summary", {}, "customer_id"),
        ("/api/customers/alice/summary", {"page": "1"}, "page"),
        ("/api/orders/search", {"page": "0"}, "page"),
        ("/api/orders/search", {"page": "abc"}, "page"),
        ("/api/orders/search", {"page_size": "0"}, "page_size"),
        ("/api/orders/search", {"page_size": "101"}, "page_size"),
        ("/api/orders/search", {"sort_by": "foo"}, "sort_by"),
        ("/api/orders/search", {"sort_by": "search_text"}, "sort_by"),
        ("/api/orders/search", {"sort_order": "up"}, "sort_order"),
        ("/api/orders/search", {"status": "bogus"}, "status"),
        ("/api/orders/search", {"status": "100%"}, "status"),
        ("/api/orders/search", {"status": ""}, "status"),
        ("/api/customers/alice/orders", {"status": "%s"}, "status"),
        ("/api/orders/search", {"min_total": "-1"}, "min_total"),
        ("/api/orders/search", {"min_total": "abc"}, "min_total"),
        ("/api/orders/search", {"min_total": "1.234"}, "min_total"),
        ("/api/orders/search", {"max_total": "-0.01"}, "max_total"),
        ("/api/orders/search", {"min_total": "10", "max_total": "5"}, "min_total"),
        ("/api/orders/search", {"created_after": "notadate"}, "created_after"),
        ("/api/orders/search", {"created_before": "2024-13-40"}, "created_before"),
        ("/api/orders/search", {"customer_id": "bad id!"}, "customer_id"),
        ("/api/orders/search", {"customer_id": TOO_LONG_ID}, "customer_id"),
        ("/api/orders/search", {"q": "x" * 201}, "q"),
        ("/api/orders/search", {"unknown": "1"}, "unknown"),
        ("/api/orders/not-a-uuid", {}, "order_id"),
        (f"/api/orders/{ORDER}", {"page": "1"}, "page"),
        ("/api/reports/daily-sales", {"from": "notadate"}, "from"),
        ("/api/reports/daily-sales", {"to": "2024-02-30"}, "to"),
        ("/api/reports/daily-sales", {"from": "2024-03-02", "to": "2024-03-01"}, "from"),
        ("/api/reports/daily-sales", {"date": "2024-03-01"}, "date"),
        ("/api/projections", {"name": "order_views"}, "name"),
        (f"/api/orders/{ORDER}", {"min_position": "-1"}, "min_position"),
        ("/api/orders/search", {"min_position": "abc"}, "min_position"),
        ("/api/orders/search", {"min_position": "1", "consistency_timeout": "31"}, None),
        ("/api/projections", {"min_position": "1", "consistency_timeout": "-1"}, None),
        ("/api/reports/daily-sales", {"min_position": "1", "consistency_timeout": "abc"}, None),
    ],
)
def test_malformed_queries_are_a_400_validation_error_naming_the_field(
    api: APIClient, path: str, params: dict[str, str], field: str | None
) -> None:
    response = api.get(path, params)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error) == {"code", "message", "details"}
    assert field is None or field in error["details"], error


@reads
@pytest.mark.parametrize(
    "path", ["/api/orders/search", "/api/customers/alice/orders"], ids=["search", "customer"]
)
def test_a_page_number_too_large_for_the_database_is_not_a_server_error(
    api: APIClient, path: str
) -> None:
    response = api.get(path, {"page": "99999999999999999999", "page_size": "100"})

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert "page" in response.json()["error"]["details"]
    else:
        assert response.json()["items"] == []


@reads
@pytest.mark.parametrize(
    "path",
    [
        f"/api/orders/{ORDER}",
        "/api/customers/alice/orders",
        "/api/orders/search",
        "/api/customers/alice/summary",
        "/api/reports/daily-sales",
        "/api/projections",
    ],
)
def test_anonymous_readers_get_a_401(path: str) -> None:
    response = APIClient().get(path)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


# --- routing ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class GetNothing(queries.Query):
    pass


def test_answering_an_unregistered_query_raises_no_handler_error_naming_it() -> None:
    with pytest.raises(NoHandlerError, match="GetNothing"):
        selectors.answer(GetNothing())


def test_every_query_type_has_a_selector() -> None:
    assert set(selectors.SELECTORS) == {
        cls
        for cls in vars(queries).values()
        if isinstance(cls, type) and issubclass(cls, queries.Query) and cls is not queries.Query
    }


# --- validation before waiting ----------------------------------------------------------------
@reads
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/orders/not-a-uuid", {}),
        (f"/api/orders/{ORDER}", {"page": "1"}),
        ("/api/customers/bad id!/orders", {}),
        ("/api/customers/alice/orders", {"page_size": "101"}),
        ("/api/customers/alice/orders", {"status": "bogus"}),
        ("/api/orders/search", {"sort_by": "foo"}),
        ("/api/orders/search", {"min_total": "10", "max_total": "5"}),
        ("/api/customers/bad id!/summary", {}),
        ("/api/reports/daily-sales", {"from": "notadate"}),
        ("/api/projections", {"name": "order_views"}),
        ("/api/orders/not-a-uuid/history", {}),
        (f"/api/orders/{ORDER}/state", {"version": "0"}),
        (f"/api/orders/{ORDER}/state", {"version": "1", "at": "2024-03-01T10:00:00+00:00"}),
    ],
)
def test_a_bad_query_is_refused_at_once_not_after_waiting_for_consistency(
    api: APIClient, path: str, params: dict[str, str]
) -> None:
    started = time.monotonic()
    response = api.get(path, {**params, "min_position": str(10**15), "consistency_timeout": "30"})

    assert response.status_code == 400, response.content
    assert time.monotonic() - started < 5  # waiting for that position would take 30 s
