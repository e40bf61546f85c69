"""OrderItemAdded v1 → v2 (orders.upcasters) and the store's stream upcasting that feeds it the
stream's earlier events (eventstore.upcasting.StreamUpcasting), without a database: the
stream is a list here, read by a fake that counts its reads."""

from __future__ import annotations

from typing import Any

import pytest

from eventstore.upcasting import (
    StreamUpcaster,
    StreamUpcasting,
    register_stream_upcaster,
    register_upcaster,
    unregister_stream_upcaster,
    unregister_upcaster,
)
from orders.upcasters import ITEM_ADDED_V1, item_added_v1_to_v2, see_line_event

ORDER = "00000000-0000-4000-8000-000000000001"


def created(*items: tuple[str, int, str]) -> tuple[str, int, dict[str, Any]]:
    return (
        "OrderCreated",
        1,
        {
            "order_id": ORDER,
            "customer_id": "c",
            "currency": "USD",
            "items": [{"product_id": p, "quantity": q, "unit_price": u} for p, q, u in items],
            "shipping_address": {},
        },
    )


def added_v1(product: str, quantity: int, price: str) -> tuple[str, int, dict[str, Any]]:
    data = {"order_id": ORDER, "product_id": product, "quantity": quantity, "unit_price": price}
    return "OrderItemAdded", 1, data


def added_v2(product: str, quantity: int, price: str, line: tuple[int, str]) -> Any:
    _, _, data = added_v1(product, quantity, price)
    return "OrderItemAdded", 2, {**data, "line": {"quantity": line[0], "unit_price": line[1]}}


def removed(product: str) -> tuple[str, int, dict[str, Any]]:
    return "OrderItemRemoved", 1, {"order_id": ORDER, "product_id": product}


def shipped() -> tuple[str, int, dict[str, Any]]:
    return "OrderShipped", 1, {"order_id": ORDER, "carrier": "", "tracking_number": ""}


class Log:
    """Streams as lists of (event_type, schema_version, payload); counts the reads of earlier
    events the upcasting makes."""

    def __init__(self, **streams: list[tuple[str, int, dict[str, Any]]]) -> None:
        self.streams = streams
        self.reads: list[tuple[str, int, int]] = []

    def earlier(
        self, stream_id: str, from_version: int, to_version: int, types: frozenset[str]
    ) -> list[tuple[int, str, int, dict[str, Any]]]:
        self.reads.append((stream_id, from_version, to_version))
        events = self.streams[stream_id]
        return [
            (version, t, sv, dict(data))
            for version, (t, sv, data) in enumerate(events, start=1)
            if from_version <= version <= to_version and t in types
        ]

    def read(self, stream_id: str, from_version: int = 1) -> list[tuple[int, dict[str, Any]]]:
        """The stream from ``from_version`` as a read gives it: (schema_version, payload)."""
        upcasting = StreamUpcasting(self.earlier)
        events = self.streams[stream_id]
        return [
            upcasting(stream_id, version, t, sv, dict(data))
            for version, (t, sv, data) in enumerate(events, start=1)
            if version >= from_version
        ]


def lines_of(read: list[tuple[int, dict[str, Any]]]) -> list[Any]:
    return [(sv, d["product_id"], d["line"]) for sv, d in read if "line" in d]


# --- the v1 rule, applied once ---------------------------------------------------------------
def test_a_product_not_on_the_order_gets_a_line_of_the_units_added() -> None:
    _, _, data = added_v1("p", 3, "1.50")
    assert item_added_v1_to_v2({}, data) == {**data, "line": {"quantity": 3, "unit_price": "1.50"}}


def test_units_added_to_a_line_add_up_and_the_latest_price_applies() -> None:
    _, _, data = added_v1("p", 3, "1.60")
    assert item_added_v1_to_v2({"p": (4, "1.50")}, data)["line"] == {
        "quantity": 7,
        "unit_price": "1.60",
    }


def test_the_line_fold_follows_created_added_and_removed() -> None:
    lines: dict[str, tuple[int, str]] = {}
    for event_type, _, data in (
        created(("a", 1, "1.00"), ("b", 2, "2.00")),
        added_v2("a", 2, "1.10", (3, "1.10")),
        removed("b"),
        shipped(),
    ):
        see_line_event(lines, event_type, data)
    assert lines == {"a": (3, "1.10")}


# --- stream upcasting ----------------------------------------------------------------------
STREAM = [
    created(("a", 2, "1.50"), ("b", 1, "2.00")),
    added_v1("a", 3, "1.60"),  # 2
    added_v1("a", 1, "1.60"),  # 3
    shipped(),  # 4 (an event the context does not read)
    removed("b"),  # 5
    added_v1("b", 2, "2.10"),  # 6
    added_v2("a", 1, "1.70", (7, "1.70")),  # 7 (written by v2 code)
    added_v1("a", 1, "1.80"),  # 8
]
EXPECTED_LINES = [
    (2, "a", {"quantity": 5, "unit_price": "1.60"}),
    (2, "a", {"quantity": 6, "unit_price": "1.60"}),
    (2, "b", {"quantity": 2, "unit_price": "2.10"}),
    (2, "a", {"quantity": 7, "unit_price": "1.70"}),
    (2, "a", {"quantity": 8, "unit_price": "1.80"}),
]


def test_a_whole_stream_read_upcasts_each_v1_add_and_reads_nothing_more() -> None:
    log = Log(s=STREAM)

    assert lines_of(log.read("s")) == EXPECTED_LINES
    # The first v1 add's context folds the events the read passed (the first one): a read of
    # the whole log, meeting every stream from its start, asks nothing of the database.
    assert log.reads == []


@pytest.mark.parametrize("start", range(2, 9))
def test_a_read_from_the_middle_reads_the_earlier_events_once_and_agrees(start: int) -> None:
    log = Log(s=STREAM)

    read = log.read("s", from_version=start)

    whole = lines_of(Log(s=STREAM).read("s"))
    assert lines_of(read) == whole[len(whole) - len(lines_of(read)) :]
    assert len(log.reads) <= 1  # up to the first v1 add of the read, once


def test_interleaved_streams_each_keep_their_own_context() -> None:
    other = [created(("a", 10, "9.00")), added_v1("a", 1, "9.50")]
    log = Log(s=STREAM, t=other)
    upcasting = StreamUpcasting(log.earlier)
    order = [("s", 1), ("t", 1), ("s", 2), ("t", 2), ("s", 3)]

    answers = [
        upcasting(stream, version, *_unpack(log.streams[stream][version - 1]))
        for stream, version in order
    ]

    assert [a[1].get("line") for a in answers] == [
        None,
        None,
        {"quantity": 5, "unit_price": "1.60"},
        {"quantity": 11, "unit_price": "9.50"},
        {"quantity": 6, "unit_price": "1.60"},
    ]
    assert log.reads == []


def _unpack(event: tuple[str, int, dict[str, Any]]) -> tuple[str, int, dict[str, Any]]:
    event_type, schema_version, data = event
    return event_type, schema_version, dict(data)


def test_a_read_of_current_events_reads_nothing_more() -> None:
    log = Log(s=[created(("a", 1, "1.00")), added_v2("a", 1, "1.00", (2, "1.00")), shipped()])

    log.read("s", from_version=2)

    assert log.reads == []


def test_plain_upcasters_run_before_and_after_a_stream_upcaster() -> None:
    """TestThing v1 -(plain)-> v2 -(stream: counts earlier things)-> v3 -(plain)-> v4."""
    thing = "TestThingCounted"
    register_upcaster(thing, 1)(lambda data: {**data, "v2": True})
    register_stream_upcaster(
        StreamUpcaster(
            event_type=thing,
            from_version=2,
            reads=frozenset({thing}),
            new_context=lambda: [0],
            see=lambda context, _type, _data: context.__setitem__(0, context[0] + 1),
            upcast=lambda context, data: {**data, "earlier": context[0]},
        )
    )
    register_upcaster(thing, 3)(lambda data: {**data, "v4": True})
    try:
        log = Log(s=[(thing, 1, {}), (thing, 1, {}), (thing, 4, {"earlier": 2})])
        assert log.read("s", from_version=2) == [
            (4, {"v2": True, "earlier": 1, "v4": True}),
            (4, {"earlier": 2}),
        ]
        assert log.reads == [("s", 1, 1)]
    finally:
        unregister_upcaster(thing, 1)
        unregister_stream_upcaster(thing, 2)
        unregister_upcaster(thing, 3)


def test_a_second_upcaster_for_a_version_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_stream_upcaster(StreamUpcaster(**ITEM_ADDED_V1.__dict__))
    with pytest.raises(ValueError, match="already registered"):
        register_upcaster("OrderItemAdded", 1)(lambda data: data)


def test_an_add_the_upcaster_cannot_read_stays_v1_and_so_do_the_adds_after_it() -> None:
    broken = ("OrderItemAdded", 1, {"order_id": ORDER, "product_id": "a", "quantity": "lots"})
    log = Log(s=[created(("a", 1, "1.00")), broken, added_v1("a", 1, "1.00"), shipped()])

    read = log.read("s")  # the read goes on: the folds refuse these events, as any misfit

    assert [sv for sv, _ in read] == [1, 1, 1, 1]
    assert "line" not in read[2][1]


def test_a_read_that_skipped_an_event_of_the_stream_folds_from_the_log() -> None:
    # A filtered read (the feed's event types) meets a stream's events with gaps: what it
    # passed is not the stream's past, so the context is read from the log.
    log = Log(s=STREAM)
    upcasting = StreamUpcasting(log.earlier)

    upcasting("s", 1, *_unpack(STREAM[0]))
    _, data = upcasting("s", 3, *_unpack(STREAM[2]))  # the add at 2 was not read

    assert data["line"] == {"quantity": 6, "unit_price": "1.60"}
    assert log.reads == [("s", 1, 2)]
