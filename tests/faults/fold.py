"""The read models as they must be: folded here from the log, independently of the projectors.

Each order is rebuilt with the domain's own aggregate (``Order.from_events``) and its events'
``recorded_at``; the customer summaries and daily sales are then added up from those orders as
the contract defines them. The fault tests compare every column of every row of the active
generation's order views, items, per-status order counts, customer summaries and daily sales
with this fold (and the counts by word with the words of the views, by PostgreSQL), so a batch
applied twice, an event skipped or a half-applied batch shows as a difference.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models

from eventstore.models import Event, PersonalKey
from eventstore.personal import ERASED
from eventstore.store import Checkpoint, RecordedEvent, read_all
from orders.domain.model import OrderStatus
from orders.repository import order_from_events
from orders.streams import STREAM_TYPE
from projections.engine import followers
from projections.engine.generations import active_generation
from projections.models import (
    CustomerSummary,
    DailySales,
    OrderStatusCount,
    OrderTermCount,
    OrderView,
    OrderViewItem,
    ProjectionState,
)
from tests.faults.traffic import Ack

ZERO = Decimal("0.00")
READ_MODEL_PROJECTIONS = ("customer_summaries", "daily_sales", "order_views")
Rows = dict[Any, dict[str, Any]]  # key -> the row's columns


def log_events() -> list[RecordedEvent]:
    """Every committed event of the log, in the order a follower reads them."""
    events: list[RecordedEvent] = []
    after = Checkpoint()
    while page := read_all(after, limit=5000, metadata=False):
        events.extend(page)
        after = page[-1].checkpoint
    return events


def expected_read_models(events: Sequence[RecordedEvent]) -> dict[str, Rows]:
    streams: dict[str, list[RecordedEvent]] = defaultdict(list)
    for event in events:
        if event.stream_type == STREAM_TYPE:
            streams[event.stream_id].append(event)
    views: Rows = {}
    items: Rows = {}
    customers: dict[str, dict[str, Any]] = {}
    days: dict[date, dict[str, Any]] = {}
    for stream in streams.values():
        stream.sort(key=lambda e: e.version)
        order_id = uuid.UUID(stream[0].stream_id.removeprefix(f"{STREAM_TYPE}-"))
        order = order_from_events(order_id, stream)
        first = {e.event_type: e.recorded_at for e in reversed(stream)}
        created_at, shipped_at = stream[0].recorded_at, first.get("OrderShipped")
        cancelled_at = first.get("OrderCancelled")
        address = order.shipping_address.to_payload() if order.shipping_address else None
        views[order_id] = {
            "order_id": order_id,
            "customer_id": order.customer_id,
            "status": order.status.value,
            "currency": order.currency,
            "total_amount": order.total,
            "item_count": order.item_count,
            "shipping_address": address,
            "created_at": created_at,
            "updated_at": stream[-1].recorded_at,
            "shipped_at": shipped_at,
            "cancelled_at": cancelled_at,
            "cancel_reason": order.cancel_reason or None,
            "carrier": order.carrier,
            "tracking_number": order.tracking_number,
            "version": order.version,
            "search_text": " ".join(
                [
                    order.customer_id,
                    *order.lines,
                    # A forgotten customer's city ("[erased]") is no word of the search.
                    *([address["city"]] if address and address["city"] != ERASED else []),
                    *([order.cancel_reason] if order.cancel_reason else []),
                ]
            ),
        }
        for line_no, line in enumerate(order.lines.values(), start=1):
            items[(order_id, line.product_id)] = {
                "order_id": order_id,
                "line_no": line_no,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "line_total": line.line_total,
            }

        cancelled = order.status == OrderStatus.CANCELLED
        customer = customers.setdefault(
            order.customer_id,
            {
                "customer_id": order.customer_id,
                "order_count": 0,
                "open_order_count": 0,
                "cancelled_count": 0,
                "lifetime_value": ZERO,
                "last_order_at": None,
            },
        )
        customer["order_count"] += 1
        customer["open_order_count"] += order.status == OrderStatus.PENDING
        customer["cancelled_count"] += cancelled
        customer["lifetime_value"] += ZERO if cancelled else order.total
        customer["last_order_at"] = max(
            filter(None, [customer["last_order_at"], created_at]), default=None
        )

        def day(moment: datetime) -> dict[str, Any]:
            key = moment.astimezone(UTC).date()
            return days.setdefault(
                key,
                {
                    "date": key,
                    "orders_placed": 0,
                    "orders_cancelled": 0,
                    "orders_shipped": 0,
                    "gross_revenue": ZERO,
                    "items_sold": 0,
                },
            )

        placed = day(created_at)
        placed["orders_placed"] += 1
        if not cancelled:
            placed["gross_revenue"] += order.total
            placed["items_sold"] += order.item_count
        if cancelled_at is not None:
            day(cancelled_at)["orders_cancelled"] += 1
        if shipped_at is not None:
            day(shipped_at)["orders_shipped"] += 1

    # Every batch of order_views writes a count for each status, a zero included.
    statuses = {status.value: 0 for status in OrderStatus} if views else {}
    for view in views.values():
        statuses[view["status"]] += 1
    return {
        "order views": views,
        "order view items": items,
        "order status counts": {
            status: {"status": status, "order_count": count} for status, count in statuses.items()
        },
        "customer summaries": dict(customers),
        "daily sales": dict(days),
    }


def _active_rows(model: type[models.Model], projection: str, key: Iterable[str]) -> Rows:
    """The active generation's rows by ``key``; a table several shards write keeps a part of
    each row per shard: the parts are added up (counts and sums; the latest time is the
    latest of theirs), as readers do."""
    generation = active_generation(projection)
    fields = [
        f.name for f in model._meta.concrete_fields if f.name not in ("id", "generation", "shard")
    ]
    key = tuple(key)
    rows: Rows = {}
    for row in model._default_manager.filter(generation=generation).values(*fields):  # type: ignore[misc]
        k = row[key[0]] if len(key) == 1 else tuple(row[k] for k in key)
        rows[k] = _merged(rows[k], row, key) if k in rows else row
    return rows


def _merged(one: dict[str, Any], other: dict[str, Any], key: tuple[str, ...]) -> dict[str, Any]:
    merged = dict(one)
    for column, value in other.items():
        if column in key:
            continue
        if isinstance(value, datetime) or value is None or merged[column] is None:
            merged[column] = max(
                (v for v in (merged[column], value) if v is not None), default=None
            )
        else:
            merged[column] = merged[column] + value
    return merged


def actual_read_models() -> dict[str, Rows]:
    return {
        "order views": _active_rows(OrderView, "order_views", ["order_id"]),
        "order view items": _active_rows(OrderViewItem, "order_views", ["order_id", "product_id"]),
        "order status counts": _active_rows(OrderStatusCount, "order_views", ["status"]),
        "customer summaries": _active_rows(CustomerSummary, "customer_summaries", ["customer_id"]),
        "daily sales": _active_rows(DailySales, "daily_sales", ["date"]),
    }


def differences(expected: dict[str, Rows], actual: dict[str, Rows], shown: int = 5) -> list[str]:
    found: list[str] = []
    for table, rows in expected.items():
        have = actual[table]
        missing = [k for k in rows if k not in have]
        extra = [k for k in have if k not in rows]
        changed = [k for k in rows if k in have and have[k] != rows[k]]
        if missing:
            found.append(f"{table}: {len(missing)} rows missing, e.g. {missing[:shown]}")
        if extra:
            found.append(f"{table}: {len(extra)} rows too many, e.g. {extra[:shown]}")
        for k in changed[:shown]:
            columns = [c for c in rows[k] if rows[k][c] != have[k].get(c)]
            said = (f"{c} is {have[k].get(c)!r}, the log says {rows[k][c]!r}" for c in columns)
            found.append(f"{table} {k}: " + ", ".join(said))
        if len(changed) > shown:
            found.append(f"{table}: {len(changed)} rows differ in all")
    return found


# PostgreSQL's own words of each order view's search text, counted per status: what the
# projection's counts by word must be (the views themselves are compared with the log).
_TERMS_OF_VIEWS = (
    "SELECT term, status, count(*) FROM projections_orderview "
    "CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('simple', search_text))) AS term "
    "WHERE generation = %s GROUP BY term, status"
)


def term_count_differences() -> list[str]:
    """The counts by word of order_views' active generation against its views' words (a
    word no order has any more may keep a row at zero)."""
    generation = active_generation("order_views")
    with connection.cursor() as cursor:
        cursor.execute(_TERMS_OF_VIEWS, [generation])
        expected = {(term, status): n for term, status, n in cursor.fetchall()}
    actual: dict[tuple[str, str], int] = {}
    for row in OrderTermCount.objects.filter(generation=generation):  # a part per shard
        actual[(row.term, row.status)] = actual.get((row.term, row.status), 0) + row.order_count
    actual = {k: n for k, n in actual.items() if n}
    wrong = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    return [
        f"order term counts {k}: {actual.get(k, 0)}, the views have {expected.get(k, 0)}"
        for k in wrong[:5]
    ] + ([f"order term counts: {len(wrong)} differ in all"] if len(wrong) > 5 else [])


def assert_read_models_equal_the_log() -> int:
    """Every row and column of the read models equals the fold of the log, and each
    projection's checkpoint counted every event exactly once. Returns the number of events."""
    events = log_events()
    found = differences(expected_read_models(events), actual_read_models())
    found += term_count_differences()
    assert not found, "the read models differ from the log:\n" + "\n".join(found)
    applied = dict.fromkeys(READ_MODEL_PROJECTIONS, 0)
    shards = dict.fromkeys(READ_MODEL_PROJECTIONS, 0)
    for s in ProjectionState.objects.filter(name__in=READ_MODEL_PROJECTIONS, active=True):
        applied[s.name] += s.events_applied  # each shard counts the events it handled
        shards[s.name] += 1
    forgets = set(
        PersonalKey.objects.exclude(forgotten_position=None).values_list(
            "forgotten_position", flat=True
        )
    )
    expected = {}
    for name in READ_MODEL_PROJECTIONS:
        follower = followers.get(name)
        handled = [
            e for e in events if follower.handles is None or e.event_type in follower.handles
        ]
        # A forget record reaches every shard of a follower that reads them all.
        everywhere = follower.every_shard_reads_forgets and shards[name] > 1
        again = sum(e.global_position in forgets for e in handled) if everywhere else 0
        expected[name] = len(handled) + again * (shards[name] - 1)
    assert applied == expected, (applied, expected)
    return len(events)


def assert_acknowledged_in_log(acks: Sequence[Ack]) -> None:
    """Every acknowledged command's last event is in the log where its reply said."""
    stored = set(
        Event.objects.filter(stream_type=STREAM_TYPE).values_list(
            "stream_id", "version", "global_position"
        )
    )
    lost = [
        ack
        for ack in acks
        if (f"{STREAM_TYPE}-{ack.order_id}", ack.version, ack.position) not in stored
    ]
    assert not lost, f"{len(lost)} acknowledged commands are not in the log, e.g. {lost[:5]}"
