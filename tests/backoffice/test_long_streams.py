"""Long streams in the back office: the timeline and an order's history come a page at a time,
newest first, with a jump to any version; each page folds from the nearest kept state, not
from the stream's start, and shows exactly what a fold of every event shows."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from backoffice import streams
from eventstore import store
from orders import snapshots
from orders.domain.events import event_from_stored
from orders.domain.model import Order
from orders.repository import load_order
from orders.streams import stream_id_for
from tests.backoffice.long_stream import append_long_order

pytestmark = pytest.mark.django_db

EVENTS = 2600  # three kept states (1000, 2000) and a tail


@pytest.fixture
def long_order() -> uuid.UUID:
    return append_long_order(EVENTS)


def versions_shown(html: str) -> list[int]:
    return [int(v) for v in re.findall(r'class="timeline-entry[^"]*" id="v(\d+)"', html)]


def every_state(order_id: uuid.UUID) -> list[dict[str, str]]:
    """The order after each of its versions (index 0: before any), by one fold of all."""
    order = Order(order_id)
    states: list[dict[str, str]] = [{}]
    for event in store.read_stream(stream_id_for(order_id)):
        order.apply(event_from_stored(event.event_type, event.data))
        order.version += 1
        states.append(streams.order_state(order))
    return states


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each read of the log in backoffice.streams returned."""
    reads: list[int] = []

    def counting(read: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            found = read(*args, **kwargs)
            reads.append(len(found))
            return found

        return counted

    for name in ("read_stream", "read_stream_payloads"):
        monkeypatch.setattr(streams.store, name, counting(getattr(store, name)))
    return reads


def test_the_timeline_shows_the_newest_page_first_and_pages_back(
    boss: Client, long_order: uuid.UUID
) -> None:
    url = f"/admin/streams/{stream_id_for(long_order)}/"
    html = boss.get(url).content.decode()
    assert versions_shown(html) == list(range(EVENTS, EVENTS - 50, -1))
    assert "versions 2,600 to 2,551 of 2,600" in html
    assert f'href="?to={EVENTS - 50}" class="page-older"' in html

    older = boss.get(url, {"to": EVENTS - 50}).content.decode()
    assert versions_shown(older) == list(range(EVENTS - 50, EVENTS - 100, -1))
    jumped = boss.get(url, {"to": "1,234"}).content.decode()  # as typed, with its comma
    assert versions_shown(jumped) == list(range(1234, 1184, -1))
    first = boss.get(url, {"to": 20}).content.decode()
    assert versions_shown(first) == list(range(20, 0, -1))
    assert "Order created" in first
    assert versions_shown(boss.get(url, {"to": 99999}).content.decode())[0] == EVENTS


def test_each_entry_shows_what_a_fold_of_every_event_before_it_shows(
    boss: Client, long_order: uuid.UUID
) -> None:
    cache.clear()
    stream_id = stream_id_for(long_order)
    states = every_state(long_order)
    for to in (2600, 2000, 1500, 1001, 120):
        page = streams.timeline_page(stream_id, to)
        assert page is not None
        for entry in page.entries:
            assert entry.state == states[entry.event.version]
        oldest = page.entries[-1]
        before = states[oldest.event.version - 1]
        assert oldest.changes == streams.changes(before, oldest.state or {})


def test_a_page_deep_in_the_stream_folds_from_the_nearest_kept_state(
    boss: Client, long_order: uuid.UUID, counted_reads: list[int]
) -> None:
    cache.clear()
    url = f"/admin/streams/{stream_id_for(long_order)}/"
    boss.get(url)  # the first view folds the whole stream once, keeping states on the way
    assert sum(counted_reads) == EVENTS

    counted_reads.clear()
    html = boss.get(url, {"to": 2300}).content.decode()
    # The page's 50 events, the 250 after the state kept at 2,000, the event that set the
    # address last: never the 2,000 before.
    assert sum(counted_reads) <= 50 + 250 + 1
    assert "Porto" in html or "Faro" in html or "Braga" in html or "Lisbon" in html


def test_a_fresh_process_folds_from_the_commands_nearest_snapshot(
    boss: Client,
    long_order: uuid.UUID,
    counted_reads: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # A command at version 2,000 would have left this snapshot (orders.snapshots).
    order, _events, _snapshot, address_version = load_order(long_order, version=2000)
    with django_capture_on_commit_callbacks(execute=True):
        snapshots.take_after_commit(order, address_version, timezone.now(), None)
    cache.clear()  # no state kept yet: a process just started
    counted_reads.clear()
    url = f"/admin/streams/{stream_id_for(long_order)}/"
    html = boss.get(url).content.decode()
    # The page's 50 events, the 550 between the snapshot and the page, the event that set the
    # address the snapshot leaves out: never the 2,000 before.
    assert 0 < sum(counted_reads) <= 50 + 550 + 1
    assert versions_shown(html) == list(range(EVENTS, EVENTS - 50, -1))
    page = streams.timeline_page(stream_id_for(long_order), EVENTS)
    assert page is not None
    states = every_state(long_order)
    assert [e.state for e in page.entries] == [states[e.event.version] for e in page.entries]
    oldest = page.entries[-1]
    assert oldest.changes == streams.changes(states[oldest.event.version - 1], states[EVENTS - 49])


def test_kept_states_hold_no_address(long_order: uuid.UUID) -> None:
    cache.clear()
    stream_id = stream_id_for(long_order)
    streams.order_at(long_order, stream_id, 2100)
    anchor = streams._anchor(stream_id)
    kept = cache.get(streams._key(stream_id, anchor, 2000))
    assert kept is not None and kept.version == 2000
    assert kept.shipping_address is None
    restored = streams.order_at(long_order, stream_id, 2000)
    assert restored.shipping_address is not None
    address = every_state(long_order)[2000]["shipping address"]
    assert restored.shipping_address.city == address.split(", ")[-2]


def test_an_orders_history_is_paged_newest_first_with_who_did_what(
    boss: Client, long_order: uuid.UUID
) -> None:
    url = f"/admin/projections/orderview/{long_order}/history/"
    html = boss.get(url).content.decode()
    rows = re.findall(r'<td class="num">([\d,]+)</td>', html)
    assert rows[:3] == ["2,600", "2,599", "2,598"]
    assert len(rows) == 50
    assert "Item removed" in html and ">tests<" in html
    older = boss.get(url, {"to": 60}).content.decode()
    assert re.findall(r'<td class="num">([\d,]+)</td>', older)[-1] == "11"
    assert boss.get(f"/admin/projections/orderview/{uuid.uuid4()}/history/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_order_pages_history_button_links_by_order_id(boss: Client) -> None:
    """It linked by the read model's row id and bounced to the dashboard ("Order view with
    ID ... doesn't exist")."""
    from tests.projections import builders as b

    placed = b.place_order()
    b.catch_up_until_applied(["order_views"])
    order_id = placed["order_id"]
    page = boss.get(f"/admin/projections/orderview/{order_id}/change/").content.decode()
    assert f'href="/admin/projections/orderview/{order_id}/history/" class="historylink"' in page
    history = boss.get(f"/admin/projections/orderview/{order_id}/history/")
    assert history.status_code == 200
    assert "Order created" in history.content.decode()
