"""What staff read: money with its currency and grouping, times with seconds and "UTC", chart
axes with room for their labels, daily sales with a chart and totals, the banner over every
page while figures are out of date, and a rebuild's progress that keeps itself current."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from backoffice import charts
from backoffice.display import amount, amount_in, moment
from orders.streams import stream_id_for
from projections.engine import generations, tasks
from tests.backoffice.conftest import VIEW_ALL, StaffFactory, page
from tests.projections import builders as b
from tests.projections.conftest import Clock
from tests.projections.read_models.shop import T0, Shop

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = "/admin/projections/orderview/"


def test_money_has_its_currency_and_grouping_and_times_say_utc_with_seconds() -> None:
    assert amount(Decimal("1234567.5"), "EUR") == "1,234,567.50 EUR"
    assert amount_in(Decimal(10), ["USD", "USD"]) == "10.00 USD"
    assert amount_in(Decimal(10), ["USD", "EUR"]) == "10.00 (mixed: EUR, USD)"
    assert moment(T0.replace(second=7)) == "2024-03-01 10:00:07 UTC"


def test_customers_and_daily_sales_show_money_with_currency_and_times_in_utc(
    boss: Client, admin_shop: Shop
) -> None:
    customers = page(boss, "/admin/projections/customersummary/", q="alice")
    assert "20.00 USD" in customers  # o1 (o3 is cancelled)
    assert "2024-03-01 10:02:00 UTC" in customers  # o3 placed at +2 min
    sales = page(boss, "/admin/projections/dailysales/")
    assert "140.49 USD" in sales  # 20 + 99.99 + 18 (o4 after its item) + 2.50, not o3
    order = page(boss, f"{ORDERS}{admin_shop.o2}/change/")
    assert re.search(r"2024-03-01 10:0\d:\d\d UTC", order)
    assert "Dec." not in order and "a.m." not in order


def test_every_other_time_on_a_staff_page_reads_the_same(boss: Client, admin_shop: Shop) -> None:
    """Dates and times a page shows without a format of its own (here an idempotency record's)
    come from the back office's formats, not Django's "March 1, 2024, 10 a.m."."""
    from orders.models import IdempotencyRecord

    IdempotencyRecord.objects.create(
        actor="a", key="k", request_hash="h", response={}, created_at=T0.replace(second=7)
    )
    html = page(boss, "/admin/orders/idempotencyrecord/")
    assert "2024-03-01 10:00:07 UTC" in html
    assert "a.m." not in html


def test_an_axis_at_ten_million_has_room_for_its_labels() -> None:
    chart = charts.bar_chart("Revenue", [("2024-03-01", Decimal("9500000")), ("2024-03-02", 1)])
    labels = [tick.label for tick in chart.ticks]
    assert labels == ["0", "5,000,000", "10,000,000"]
    widest = max(len(label) for label in labels) * charts.CHARACTER_WIDTH
    assert chart.tick_x >= widest  # right-aligned at tick_x, the label starts at x >= 0
    assert all(bar.x >= chart.left for bar in chart.bars)


def test_daily_sales_have_a_chart_and_the_totals_of_what_the_filter_shows(
    boss: Client, admin_shop: Shop, clock: Clock
) -> None:
    clock.advance(days=2)
    b.place_order(customer_id="later", items=(("widget", 2, "1000.00"),))
    b.catch_up_until_applied()
    html = page(boss, "/admin/projections/dailysales/")
    totals = html.split("Totals of the 2 days shown")[1].split("</table>")[0]
    assert re.search(r"orders placed</th><td class=\"num\">6<", totals)
    assert "2,140.49 USD" in totals
    assert html.count('<svg class="chart') == 2
    assert "<title>2024-03-02: 0.00</title>" not in html  # revenue is formatted as money
    assert "<title>2024-03-02: 0</title>" in html  # the day between has a bar of none
    assert "<title>2024-03-03: 2,000</title>" in html
    one_day = page(
        boss, "/admin/projections/dailysales/", date__day="1", date__month="3", date__year="2024"
    )
    assert "Totals of the 1 day shown" in one_day


def test_a_banner_tops_every_staff_page_while_a_projection_is_behind(
    staff: StaffFactory, boss: Client, admin_shop: Shop, clock: Clock, settings: Any
) -> None:
    clerk = staff(*VIEW_ALL[1:4], username="clerk")  # orders, customers, daily sales
    pages = [
        "/admin/",
        ORDERS,
        f"{ORDERS}{admin_shop.o1}/change/",
        f"/admin/streams/{stream_id_for(admin_shop.o1)}/",
        "/admin/projections/customersummary/",
        "/admin/projections/dailysales/",
    ]
    for url in pages:
        assert 'id="stale-banner"' not in page(boss, url), url

    b.append_new_order()  # nothing wakes the projections: they fall behind from now
    behind_since = clock.now
    clock.advance(seconds=settings.BACKOFFICE_STALE_AFTER_SECONDS + 1)
    cache.clear()
    for url in pages:
        html = page(clerk, url)
        banner = html.split('id="stale-banner"')[1].split("</div>")[0]
        assert "Orders (the order list, searches and order pages): shown as of" in banner, url
        assert moment(behind_since) in banner
        assert "If it stays, tell an operator." in banner
        assert "projection <code>" not in banner  # the engine's names are for operators
        assert html.index('id="stale-banner"') < html.index('id="content"')  # at the top
    operator_view = page(boss, ORDERS).split('id="stale-banner"')[1].split("</div>")[0]
    assert "projection <code>order_views</code>" in operator_view
    assert 'href="/admin/projections/projectionstate/"' in operator_view

    b.catch_up_until_applied()
    cache.clear()
    assert 'id="stale-banner"' not in page(clerk, ORDERS)


def test_a_rebuilds_progress_is_served_for_the_page_to_update_itself(
    boss: Client, admin_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.rebuild_projection, "delay", lambda name: None)
    assert page(boss, "/admin/projections/projectionstate/progress/") == '{"rebuilds": []}'
    generations.start_rebuild("order_views")
    html = page(boss, "/admin/projections/projectionstate/")
    assert '<span class="rebuild" data-projection="order_views">' in html
    assert '<script src="/static/backoffice/progress.js"></script>' in html
    assert "<script>" not in html  # no inline script: the admin's pages allow none
    progress = boss.get("/admin/projections/projectionstate/progress/").json()
    head = admin_shop.positions[-1]
    assert progress == {
        "rebuilds": [
            {
                "name": "order_views",
                "generation": 2,
                "status": "rebuilding",
                "position": 0,
                "head": head,
                "percent": 0,
                "text": f"generation 2: rebuilding, 0% (0 of {head:,})",
            }
        ]
    }
    assert Client().get("/admin/projections/projectionstate/progress/").status_code == 302
