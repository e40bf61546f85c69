"""Customers and daily sales of a projection run as several shards, which keeps one part of
each row per shard: staff see one row per customer and per day, its parts added up, filtered,
ordered and paged by the sums; with one shard the list stays the plain indexed query."""

from __future__ import annotations

import html as entities
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backoffice.admin.reports import CustomerSummaryAdmin
from projections.engine.generations import active_generation, active_state
from projections.engine.rebuild import rebuild
from projections.read_models import queries
from projections.read_models.models import CustomerSummary, DailySales
from projections.read_models.selectors import customer_summary_get, daily_sales_list
from tests.backoffice.conftest import page
from tests.projections import builders as b
from tests.projections.read_models.shop import Shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CUSTOMERS = "/admin/projections/customersummary/"
DAYS = "/admin/projections/dailysales/"
MARCH = datetime.fromisoformat("2024-03-01T10:00:00+00:00")


def sharded(settings: Any, shards: int) -> None:
    """The customer summaries and daily sales read from a generation of ``shards`` shards (a
    rebuild of the empty log: the tests write the parts themselves)."""
    settings.PROJECTION_SHARDS = {"customer_summaries": shards, "daily_sales": shards}
    for name in ("customer_summaries", "daily_sales"):
        if shards > 1:
            rebuild(name)
        assert active_state(name).shards == shards


def customer_part(customer_id: str, shard: int, orders: int, **figures: Any) -> None:
    """One shard's part of ``customer_id``'s summary (by default: ``orders`` open orders worth
    10.00 each, the last placed on 1 March plus ``orders`` minutes)."""
    CustomerSummary.objects.create(
        generation=active_generation("customer_summaries"),
        customer_id=customer_id,
        shard=shard,
        order_count=orders,
        open_order_count=figures.get("open", orders),
        cancelled_count=figures.get("cancelled", 0),
        lifetime_value=Decimal(10 * orders),
        last_order_at=MARCH.replace(minute=orders),
    )


def day_part(day: str, shard: int, placed: int, revenue: str) -> None:
    DailySales.objects.create(
        generation=active_generation("daily_sales"),
        date=date.fromisoformat(day),
        shard=shard,
        orders_placed=placed,
        orders_cancelled=0,
        orders_shipped=1,
        gross_revenue=Decimal(revenue),
        items_sold=2 * placed,
    )


def rows(html: str) -> list[dict[str, str]]:
    """The rows of a list page: each column's text by its field name."""
    [body] = re.findall(r'id="result_list".*?<tbody>(.*?)</tbody>', html, re.S)
    found = []
    for row in re.findall(r"<tr.*?</tr>", body, re.S):
        cells = re.findall(r'<t[hd] class="field-([\w]+)[^"]*">(.*?)</t[hd]>', row, re.S)
        found.append(
            {name: entities.unescape(re.sub(r"<[^>]+>", "", text)) for name, text in cells}
        )
    return found


@pytest.fixture
def three_customers(settings: Any) -> None:
    """alice in both shards (2 + 2 orders, one cancelled), carol in shard 0 only (3 orders, all
    open), bob in shard 1 only (1 order, open). By part, carol would top a list by orders."""
    sharded(settings, 2)
    customer_part("alice", 0, 2, open=0, cancelled=1)
    customer_part("alice", 1, 2, open=1)
    customer_part("carol", 0, 3)
    customer_part("bob", 1, 1)


def test_a_customer_of_several_shards_is_one_row_with_the_sums_of_their_parts(
    boss: Client, three_customers: None
) -> None:
    listed = rows(page(boss, CUSTOMERS))
    assert [
        (row["customer_id"], row["orders"], row["open_orders"], row["cancelled"]) for row in listed
    ] == [
        ("alice", "4 orders", "1", "1"),
        ("bob", "1 orders", "1", "0"),
        ("carol", "3 orders", "3", "0"),
    ]
    assert listed[0]["lifetime_value_text"] == "40.00"
    assert listed[0]["last_order"] == "2024-03-01 10:02:00 UTC"  # the latest of the parts
    assert [row["customer_id"] for row in rows(page(boss, CUSTOMERS, q="alice"))] == ["alice"]


def test_the_customer_filters_and_ordering_read_the_sums(
    boss: Client, three_customers: None
) -> None:
    def listed(**params: str) -> list[str]:
        return [row["customer_id"] for row in rows(page(boss, CUSTOMERS, **params))]

    assert listed(has="open") == ["alice", "bob", "carol"]  # alice once, open in one part
    assert listed(has="cancelled") == ["alice"]
    # Column 2 is "orders" (column 0 is the action's checkboxes): 4, 3, 1 orders.
    assert listed(o="-2") == ["alice", "carol", "bob"]
    assert listed(o="2") == ["bob", "carol", "alice"]
    assert listed(o="-6") == ["carol", "alice", "bob"]  # last order: 10:03, 10:02, 10:01


def test_customer_pages_count_customers_not_parts(
    boss: Client, three_customers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CustomerSummaryAdmin, "list_per_page", 2)
    first = rows(page(boss, CUSTOMERS))
    second = rows(page(boss, CUSTOMERS, p="2"))
    assert [row["customer_id"] for row in first + second] == ["alice", "bob", "carol"]
    assert boss.get(CUSTOMERS, {"p": "3"}).status_code == 302  # no third page: Django's ?e=1


def test_a_sharded_customer_opens_summed_and_can_be_chosen_for_forgetting(
    boss: Client, three_customers: None
) -> None:
    [link] = re.findall(rf'href="({CUSTOMERS}\d+/change/[^"]*)"', page(boss, CUSTOMERS, q="alice"))
    detail = page(boss, link.replace("&amp;", "&"))
    assert re.search(r'field-order_count.*?<div class="readonly">4</div>', detail, re.S)
    assert "field-shard" not in detail  # one customer, whatever the parts

    chosen = re.findall(r'name="_selected_action" value="(\d+)"', page(boss, CUSTOMERS))
    asked = boss.post(CUSTOMERS, {"action": "forget_selected", "_selected_action": chosen})
    assert asked.status_code == 200
    [listed] = re.findall(r'<ul class="action-objects">(.*?)</ul>', asked.content.decode(), re.S)
    assert re.findall(r"<li>([^<]*)</li>", listed) == [
        "alice · 4 orders",
        "bob · 1 orders",
        "carol · 3 orders",
    ]
    done = boss.post(
        CUSTOMERS,
        {
            "action": "forget_selected",
            "_selected_action": chosen[:1],
            "reason": "Asked by mail",
            "apply": "1",
        },
        follow=True,
    ).content.decode()
    assert re.findall(r"Customer (\S+) (?:was )?forgotten", done) == ["alice"]


def test_a_day_of_several_shards_is_one_row_in_the_list_the_totals_and_the_chart(
    boss: Client, settings: Any
) -> None:
    sharded(settings, 2)
    day_part("2024-03-01", 0, 2, "20.00")
    day_part("2024-03-01", 1, 1, "15.00")
    day_part("2024-03-02", 1, 3, "30.00")
    html = page(boss, DAYS)
    assert [
        (row["day"], row["placed"], row["units_sold"], row["revenue"]) for row in rows(html)
    ] == [
        ("2024-03-02", "3", "6", "30.00"),
        ("2024-03-01", "3", "6", "35.00"),
    ]
    totals = html.split("Totals of the 2 days shown")[1].split("</table>")[0]
    assert re.search(r"orders placed</th><td class=\"num\">6<", totals)
    assert re.search(r"shipped</th><td class=\"num\">3<", totals)
    assert "<title>2024-03-01: 3</title>" in html  # orders placed, both parts
    assert "<title>2024-03-01: 35</title>" in html  # revenue, both parts
    # Ordered by revenue (column 5), 30.00 before 35.00: by part, 15.00 would come first.
    by_revenue = [row["day"] for row in rows(page(boss, DAYS, o="5"))]
    assert by_revenue == ["2024-03-02", "2024-03-01"]
    one_day = page(boss, DAYS, date__day="1", date__month="3", date__year="2024")
    assert "Totals of the 1 day shown" in one_day
    assert [row["placed"] for row in rows(one_day)] == ["3"]
    assert "<html" in page(boss, DAYS, date__year="2024")  # the date hierarchy's months


def test_what_two_shards_of_the_projectors_wrote_reads_as_the_api_reads_it(
    boss: Client, admin_shop: Shop, settings: Any
) -> None:
    sharded(settings, 2)
    generation = active_generation("customer_summaries")
    dave = CustomerSummary.objects.filter(generation=generation, customer_id="dave")
    # One more customer's orders until they fall in both shards (each order: one in two).
    for _ in range(30):
        b.place_order(customer_id="dave", items=(("widget", 1, "5.00"),))
        b.catch_up_until_applied()
        if dave.count() == 2:
            break
    assert dave.count() == 2

    listed = rows(page(boss, CUSTOMERS))
    assert [row["customer_id"] for row in listed] == ["alice", "bob", "carol.smith", "dave"]
    for row in listed:
        summary = customer_summary_get(queries.GetCustomerSummary(customer_id=row["customer_id"]))
        assert (row["orders"], row["open_orders"], row["cancelled"]) == (
            f"{summary.order_count} orders",
            str(summary.open_order_count),
            str(summary.cancelled_count),
        )
        assert row["lifetime_value_text"] == f"{summary.lifetime_value} USD"
    days = rows(page(boss, DAYS))
    assert [(row["day"], row["placed"], row["revenue"]) for row in days] == [
        (day.date.isoformat(), str(day.orders_placed), f"{day.gross_revenue:,} USD")
        for day in reversed(daily_sales_list(queries.GetDailySales()))
    ]


def test_with_one_shard_the_lists_are_the_plain_indexed_queries(
    boss: Client, settings: Any
) -> None:
    sharded(settings, 1)
    customer_part("alice", 0, 2, cancelled=1)
    customer_part("bob", 0, 1)
    day_part("2024-03-01", 0, 2, "20.00")
    with CaptureQueriesContext(connection) as queries:
        customers = rows(page(boss, CUSTOMERS, has="cancelled"))
        days = rows(page(boss, DAYS))
    assert [(row["customer_id"], row["orders"]) for row in customers] == [("alice", "2 orders")]
    assert [(row["day"], row["placed"]) for row in days] == [("2024-03-01", "2")]
    read = [
        q["sql"]
        for q in queries.captured_queries
        if "projections_customersummary" in q["sql"] or "projections_dailysales" in q["sql"]
    ]
    assert read and not [sql for sql in read if "GROUP BY" in sql]
