"""Every back office page renders with data; searches and filters find what they should."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from eventstore.models import Event
from orders.streams import stream_id_for
from tests.backoffice.conftest import page
from tests.projections.read_models.shop import Shop

pytestmark = pytest.mark.django_db

EVENTS = "/admin/eventstore/event/"
ORDERS = "/admin/projections/orderview/"


def positions(html: str) -> list[int]:
    """The event positions a page of the event list shows, in order."""
    return [int(p) for p in re.findall(r'/admin/eventstore/event/(\d+)/change/[^"]*">\1<', html)]


def test_every_list_detail_filter_and_search_page_renders_with_data(
    boss: Client, admin_shop: Shop
) -> None:
    event = Event.objects.order_by("-global_position").first()
    assert event is not None
    urls = [
        "/admin/",
        EVENTS,
        f"{EVENTS}?event_type=OrderCreated",
        f"{EVENTS}?stream_type=Order",
        f"{EVENTS}?recorded_at__gte=2024-03-01+00:00:00%2B00:00",
        f"{EVENTS}?q={admin_shop.o2}",
        f"{EVENTS}{event.global_position}/change/",
        f"/admin/streams/{stream_id_for(admin_shop.o2)}/",
        f"/admin/streams/{stream_id_for(admin_shop.o2)}/?version=1",
        ORDERS,
        f"{ORDERS}?status=pending",
        f"{ORDERS}?total=50-200",
        f"{ORDERS}?created_at__gte=2024-03-01+00:00:00%2B00:00",
        f"{ORDERS}?q=Shelbyville",
        f"{ORDERS}?customer_id=bob",
        f"{ORDERS}{admin_shop.o4}/change/",
        "/admin/projections/customersummary/",
        "/admin/projections/customersummary/?q=alice",
        "/admin/projections/customersummary/?has=open",
        "/admin/projections/dailysales/",
        "/admin/projections/projectionstate/",
        "/admin/projections/projectionskip/",
        "/admin/orders/idempotencyrecord/",
    ]
    for url in urls:
        assert "<html" in page(boss, url), url


def test_the_event_list_is_newest_first_and_pages_by_position_without_counting(
    boss: Client, admin_shop: Shop, settings: object
) -> None:
    everything = list(Event.objects.order_by("-global_position").values_list("pk", flat=True))
    from backoffice.admin.events import EventAdmin

    EventAdmin.list_per_page = 4
    try:
        seen: list[int] = []
        url = EVENTS
        with CaptureQueriesContext(connection) as queries:
            while url:
                html = page(boss, url)
                seen += positions(html)
                older = re.search(r'href="(\?[^"]*before=\d+[^"]*)">older', html)
                url = EVENTS + older.group(1).replace("&amp;", "&") if older else ""
        assert seen == everything
        # (Besides the banner's look at how far each projection is behind: backoffice.staleness.)
        listing = [q["sql"] for q in queries if "count(*), min(recorded_at)" not in q["sql"]]
        assert not [sql for sql in listing if "COUNT(" in sql.upper()]

        newer = page(boss, EVENTS, after=everything[-1])
        assert positions(newer) == everything[-5:-1]
    finally:
        EventAdmin.list_per_page = 50


def test_a_bare_order_id_finds_its_stream_as_do_event_and_correlation_ids(
    boss: Client, admin_shop: Shop
) -> None:
    stream = list(
        Event.objects.filter(stream_id=stream_id_for(admin_shop.o4))
        .order_by("-global_position")
        .values_list("pk", flat=True)
    )
    assert len(stream) == 2
    assert positions(page(boss, EVENTS, q=admin_shop.o4)) == stream
    assert positions(page(boss, EVENTS, q=f" {stream_id_for(admin_shop.o4)} ")) == stream

    event = Event.objects.get(pk=stream[0])
    assert positions(page(boss, EVENTS, q=str(event.event_id))) == [event.pk]
    assert positions(page(boss, EVENTS, q=event.metadata["correlation_id"])) == [event.pk]
    assert positions(page(boss, EVENTS, q="Order-nothing-like-it")) == []


def test_the_event_filters_list_the_types_in_the_log_and_filter_by_them(
    boss: Client, admin_shop: Shop
) -> None:
    html = page(boss, EVENTS)
    for event_type in ("OrderCreated", "OrderCancelled", "OrderShipped"):
        assert f"?event_type={event_type}" in html
    shipped = Event.objects.get(event_type="OrderShipped")
    assert positions(page(boss, EVENTS, event_type="OrderShipped")) == [shipped.pk]


def test_an_event_shows_its_payload_as_json_and_links_to_its_stream_and_correlation(
    boss: Client, admin_shop: Shop
) -> None:
    event = Event.objects.get(event_type="OrderCancelled")
    html = page(boss, f"{EVENTS}{event.pk}/change/")
    assert '<span class="json-key">&quot;reason&quot;</span>: ' in html
    assert '<span class="json-string">&quot;customer changed mind&quot;</span>' in html
    assert f'href="/admin/streams/{event.stream_id}/"' in html
    assert f'?q={event.metadata["correlation_id"]}">every event of this correlation' in html
    assert "CancelOrder " + event.metadata["causation_id"] in html


def test_a_timeline_shows_what_each_event_changed_and_the_state_at_a_version(
    boss: Client, admin_shop: Shop
) -> None:
    url = f"/admin/streams/{stream_id_for(admin_shop.o3)}/"
    html = page(boss, url)
    assert html.count('class="timeline-entry') == 2
    cancelled = html.split('id="v2"')[1]
    assert re.search(r"<th>status</th>\s*<td class=\"diff-before\"><del>pending</del>", cancelled)
    assert "<ins>cancelled</ins>" in cancelled
    assert "<ins>customer changed mind</ins>" in cancelled

    as_of = page(boss, url, version=1).split('id="as-of"')[1].split("</div>")[0]
    assert "<th>status</th><td>pending</td>" in as_of
    assert "cancel reason" not in as_of
    assert "The order has versions 1 to 2." in page(boss, url, version=9)


def test_a_timeline_of_a_stream_that_is_no_order_lists_its_events(boss: Client) -> None:
    from eventstore import store

    store.append_to_stream(
        "Thing-1", "Thing", [store.NewEvent("ThingHappened", {"n": 1})], expected_version="any"
    )
    html = page(boss, "/admin/streams/Thing-1/")
    assert "ThingHappened" in html
    assert '<span class="json-key">&quot;n&quot;</span>' in html
    assert boss.get("/admin/streams/Nothing-here/").status_code == 404


def test_the_orders_list_searches_by_id_and_words_and_filters_by_status_and_total(
    boss: Client, admin_shop: Shop
) -> None:
    def listed(**params: str) -> set[str]:
        html = page(boss, ORDERS, **params)
        return set(re.findall(r"/admin/projections/orderview/([0-9a-f-]{36})/change/", html))

    assert listed(q=admin_shop.o2) == {admin_shop.o2}
    assert listed(q="gadget") == {admin_shop.o2}
    assert listed(q="Ogdenville") == {admin_shop.o3}
    assert listed(status="cancelled") == {admin_shop.o3}
    assert listed(total="50-200") == {admin_shop.o2}
    assert listed(customer_id="alice") == {admin_shop.o1, admin_shop.o3}


def test_an_order_page_shows_its_items_address_and_timeline_link(
    boss: Client, admin_shop: Shop
) -> None:
    html = page(boss, f"{ORDERS}{admin_shop.o4}/change/")
    for text in ("widget", "doohickey", "sprocket", "18.00 USD", "1 Main St", "12345 Springfield"):
        assert text in html
    assert f'href="/admin/streams/{stream_id_for(admin_shop.o4)}/"' in html


def test_customers_link_to_their_orders_and_daily_sales_are_listed(
    boss: Client, admin_shop: Shop
) -> None:
    html = page(boss, "/admin/projections/customersummary/", q="alice")
    assert '/admin/projections/orderview/?customer_id=alice">2 orders</a>' in html
    cancelling = page(boss, "/admin/projections/customersummary/", has="cancelled")
    assert "customer_id=alice" in cancelling
    assert "customer_id=bob" not in cancelling
    assert "2024-03-01" in page(boss, "/admin/projections/dailysales/") or "March 1, 2024" in page(
        boss, "/admin/projections/dailysales/"
    )


def test_the_dashboard_charts_the_last_30_days_from_the_read_tables(
    boss: Client, admin_shop: Shop
) -> None:
    html = page(boss, "/admin/")
    assert html.count('<svg class="chart') == 3
    assert "<title>2024-03-01: 5</title>" in html  # orders placed that day
    assert "<title>2024-03-01: 1</title>" in html  # cancellations
    assert "20.0 % of orders placed" in html
    top = html.split("Top products")[1]
    assert top.index("gadget") < top.index("widget")  # 99.99 before 30.00
    assert "order_views" in html.split("Operations: projections now")[1]


def test_staff_who_see_orders_but_not_the_log_see_an_orders_timeline_and_nothing_else_of_it(
    staff: object, admin_shop: Shop
) -> None:
    from eventstore import store

    store.append_to_stream(
        "Thing-1", "Thing", [store.NewEvent("ThingHappened", {"n": 1})], expected_version="any"
    )
    orders_only = staff("projections.view_orderview")  # type: ignore[operator]
    timeline = page(orders_only, f"/admin/streams/{stream_id_for(admin_shop.o1)}/")
    assert "Order created" in timeline
    assert "/admin/eventstore/event/" not in timeline  # no links into the log
    assert orders_only.get("/admin/streams/Thing-1/").status_code == 403
    assert orders_only.get(EVENTS).status_code == 403
    assert '<svg class="chart' not in page(orders_only, "/admin/")

    nobody = staff(username="nobody")  # type: ignore[operator]
    assert nobody.get(f"/admin/streams/{stream_id_for(admin_shop.o1)}/").status_code == 403


def test_the_orders_list_counts_matches_only_up_to_its_cap(
    boss: Client, admin_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backoffice.paging import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    monkeypatch.setattr("backoffice.admin.orders.OrderAdmin.list_per_page", 2)
    html = page(boss, ORDERS)
    assert "more than 3\norders" in html
    assert "?p=2" in html
    with CaptureQueriesContext(connection) as queries:
        page(boss, ORDERS, status="pending")
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    assert "LIMIT 4" in counts[0]
    assert "3\norders" in page(boss, ORDERS, status="pending")


def test_the_top_products_are_kept_a_minute_and_follow_a_new_generation(
    boss: Client, admin_shop: Shop, settings: object
) -> None:
    from backoffice import dashboard
    from projections.engine.rebuild import rebuild

    first = dashboard.figures()["top_products"]
    with CaptureQueriesContext(connection) as queries:
        assert dashboard.figures()["top_products"] == first
    assert not [q for q in queries if "salesorderfact" in q["sql"]]
    rebuild("daily_sales")
    with CaptureQueriesContext(connection) as queries:
        assert dashboard.figures()["top_products"] == first
    assert [q for q in queries if "salesorderfact" in q["sql"]]


def test_a_date_range_far_back_is_read_between_the_positions_it_spans(
    boss: Client, admin_shop: Shop, clock: object
) -> None:
    """The filter finds the range's positions by bisecting the primary key; the page holds
    exactly the events recorded in the range."""
    from datetime import timedelta

    from tests.projections import builders as b

    days = []
    for n in range(1, 4):
        clock.advance(days=1)  # type: ignore[attr-defined]
        days.append([b.place_order(customer_id=f"day-{n}")["position"] for _ in range(3)])
    second = clock.now - timedelta(days=1)  # type: ignore[attr-defined]
    day = f"{second.date().isoformat()} 00:00:00+00:00"
    next_day = f"{(second + timedelta(days=1)).date().isoformat()} 00:00:00+00:00"
    with CaptureQueriesContext(connection) as queries:
        html = page(boss, EVENTS, recorded_at__gte=day, recorded_at__lt=next_day)
    assert positions(html) == sorted(days[1], reverse=True)
    listing = [q["sql"] for q in queries if "ORDER BY" in q["sql"] and "LIMIT 51" in q["sql"]]
    assert len(listing) == 1
    assert '"global_position" >= ' in listing[0]
    assert '"global_position" < ' in listing[0]
