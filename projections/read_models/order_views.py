"""The order_views projection: one row per order (what GET /api/orders/{id} shows), its items,
how many orders have each status, and how many of each status have each word of the search.

Items are rewritten only for orders whose lines a batch changed. The per-status counts move by
what the batch changed (an order created +1 to its status, a status left -1, the new one +1),
in the batch's transaction: a search filtered by status alone answers its exact total from them.
The word counts move likewise, by the (search text, status) of each touched order before the
batch (-1) and after it (+1), split into words by the database in the same statement: a
one-word search answers its exact total from them (PostgreSQL).

A customer forgotten (orders.customers: their key gone, so their personal fields read
"[erased]" from the log from then on) is scrubbed here when the event recording it comes: the
address fields of each of their orders' rows and cached states become "[erased]", and their
city leaves the search text and the counts by word, as a rebuild would leave them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from eventstore.personal import ERASED
from eventstore.store import RecordedEvent, Shard, streams_in
from orders.customers import CUSTOMER_FORGOTTEN
from orders.domain.values import PERSONAL_ADDRESS_FIELDS
from orders.streams import stream_id_for
from projections.read_models.folding import (
    CANCELLED,
    ORDER_EVENT_TYPES,
    PENDING,
    SHIPPED,
    OrderId,
    OrderState,
    fold,
    lines_from_payload,
    order_id_of,
)
from projections.read_models.models import (
    OrderStatusCount,
    OrderTermCount,
    OrderView,
    OrderViewItem,
)
from projections.read_models.per_order import OrderProjection, Writes
from projections.read_models.toolkit import tables


def _search_text(state: OrderState) -> str:
    parts = [state.customer_id, *state.lines]
    if state.shipping_address and state.shipping_address.get("city") != ERASED:
        parts.append(state.shipping_address.get("city", ""))
    if state.cancel_reason:
        parts.append(state.cancel_reason)
    return " ".join(parts)


_VIEW_COLUMNS = (
    "customer_id",
    "status",
    "currency",
    "total_amount",
    "item_count",
    "shipping_address",
    "created_at",
    "updated_at",
    "shipped_at",
    "cancelled_at",
    "cancel_reason",
    "carrier",
    "tracking_number",
    "version",
    "search_text",
)
_ITEM_COLUMNS = ("order_id", "product_id", "quantity", "unit_price")
# Every batch writes a row for each (a zero delta included), so a generation's rows are the
# same whether it was filled batch by batch or by a rebuild.
_STATUSES = (PENDING, SHIPPED, CANCELLED)


def _erased(address: dict[str, Any]) -> dict[str, Any]:
    return {k: ERASED if k in PERSONAL_ADDRESS_FIELDS else v for k, v in address.items()}


class OrderViews(OrderProjection):
    name: ClassVar[str] = "order_views"
    tables = (OrderView, OrderViewItem, OrderStatusCount, OrderTermCount)
    handles: ClassVar[frozenset[str] | None] = ORDER_EVENT_TYPES | {CUSTOMER_FORGOTTEN}
    # A forget's event is in the customer's stream, in one shard: every shard scrubs its own
    # orders of the customer (rows, cached states, counts) when it comes to it.
    every_shard_reads_forgets: ClassVar[bool] = True

    def writes(
        self,
        events: Sequence[RecordedEvent],
        states: dict[OrderId, OrderState],
        generation: int,
        settle: Callable[[], None],
        part: Shard,
    ) -> Writes:
        forgotten = {e.data["customer_id"] for e in events if e.event_type == CUSTOMER_FORGOTTEN}
        if forgotten:
            events = [e for e in events if e.event_type != CUSTOMER_FORGOTTEN]
        states = self.states_for(events, states, generation, settle)
        erase = self._orders_of(forgotten, states, generation, settle, part) if forgotten else set()
        words = tables.takes_terms(OrderTermCount, generation)
        counts = dict.fromkeys(_STATUSES, 0)
        searched: dict[OrderId, tuple[str, str]] = {}  # (search_text, status) before the batch
        for order_id in {order_id_of(e) for e in events} | erase:
            before = states.get(order_id)  # None: created by this batch
            if before is not None:
                counts[before.status] -= 1
                if words:
                    searched[order_id] = (_search_text(before), before.status)
        touched = fold(events, states)
        if forgotten:  # and orders of theirs this batch created (read "[erased]" already)
            erase |= {order_id for order_id, s in touched.items() if s.customer_id in forgotten}
        for order_id in erase:  # a forgotten customer's: scrubbed, as a rebuild reads them
            state = states.pop(order_id)
            if order_id not in touched:
                state.is_new = state.lines_changed = False
            state.shipping_address = _erased(state.shipping_address)
            states[order_id] = touched[order_id] = state
        views = [self._row(state) for state in touched.values()]
        terms: list[dict[str, Any]] = []
        for view in views:
            counts[view["status"]] += 1
            now = (view["search_text"], view["status"])
            was = searched.get(view["order_id"])
            if not words or was == now:
                continue  # e.g. an item's quantity changed: no word and no status moved
            if was is not None:
                terms.append({"text": was[0], "status": was[1], "delta": -1})
            terms.append({"text": now[0], "status": now[1], "delta": 1})
        status_counts = [{"status": status, "order_count": n} for status, n in counts.items()]
        term_counts = (
            tables.Terms(OrderTermCount, terms, key="status", count="order_count", shard=part.index)
            if words
            else None
        )
        relined = [state for state in touched.values() if state.lines_changed]
        # Rows of orders created in this batch don't exist yet: nothing to delete.
        unlined = [state.order_id for state in relined if not state.is_new]
        items = [
            {
                "order_id": state.order_id,
                "line_no": line_no,
                "product_id": product_id,
                "quantity": quantity,
                "unit_price": price,
                "line_total": price * quantity,
            }
            for state in relined
            for line_no, (product_id, (quantity, price)) in enumerate(state.lines.items(), start=1)
        ]

        def write() -> None:
            tables.add(
                OrderStatusCount,
                generation,
                status_counts,
                key="status",
                sums=("order_count",),
                terms=term_counts,
                shard=part.index,
            )
            tables.upsert(OrderView, generation, views, unique=["order_id"], update=_VIEW_COLUMNS)
            tables.delete(OrderViewItem, generation, "order_id", unlined)
            tables.upsert(OrderViewItem, generation, items, unique=["order_id", "product_id"])
            if erase and words:
                # The forgotten customers' words no order of this shard has any more (their
                # city): its parts gone, as from a rebuild's count, not left at zero. (Only its
                # own parts: shards never write each other's rows.)
                OrderTermCount.objects.filter(
                    generation=generation, shard=part.index, order_count=0
                ).delete()

        return write

    def _orders_of(
        self,
        customers: set[str],
        states: dict[OrderId, OrderState],
        generation: int,
        settle: Callable[[], None],
        part: Shard,
    ) -> set[OrderId]:
        """The orders of ``customers`` (forgotten) in ``part`` of the log, their states added
        to ``states``. Each shard scrubs its own orders only: it alone writes their rows and
        their parts of the counts, and keeps their states."""
        settle()  # their rows as written so far
        rows = tables.load(OrderView, generation, "customer_id", customers, ("order_id",))
        ids = {str(row["order_id"]) for row in rows}
        ids |= {order_id for order_id, s in states.items() if s.customer_id in customers}
        if not part.whole:
            mine = streams_in([stream_id_for(order_id) for order_id in ids], part)
            ids = {order_id for order_id in ids if stream_id_for(order_id) in mine}
        missing = {order_id for order_id in ids if order_id not in states}
        if missing:
            states.update(self.load(generation, missing))
        return ids

    def caught_up(self, generation: int) -> None:
        # A rebuild's batches leave the counts by word out (PostgreSQL: they cost catching up
        # a fifth of its speed); its views are counted in one pass instead.
        tables.recount_terms(
            OrderTermCount,
            generation,
            source=OrderView,
            text="search_text",
            key="status",
            count="order_count",
        )

    def load(self, generation: int, order_ids: set[OrderId]) -> dict[OrderId, OrderState]:
        lines: dict[OrderId, list[tuple[str, int, Decimal]]] = defaultdict(list)
        for item in tables.load(
            OrderViewItem,
            generation,
            "order_id",
            order_ids,
            _ITEM_COLUMNS,
            order_by=("order_id", "line_no"),
        ):
            lines[str(item["order_id"])].append(
                (item["product_id"], item["quantity"], item["unit_price"])
            )
        states = {}
        for row in tables.load(
            OrderView, generation, "order_id", order_ids, ("order_id", *_VIEW_COLUMNS)
        ):
            del row["total_amount"], row["item_count"], row["search_text"]  # derived
            order_id = str(row.pop("order_id"))
            states[order_id] = OrderState(
                order_id, lines=lines_from_payload(lines[order_id]), **row
            )
        return states

    @staticmethod
    def _row(state: OrderState) -> dict[str, Any]:
        return {
            "order_id": state.order_id,
            "customer_id": state.customer_id,
            "status": state.status,
            "currency": state.currency,
            "total_amount": state.total,
            "item_count": state.item_count,
            "shipping_address": state.shipping_address,
            "created_at": state.created_at,
            "updated_at": state.updated_at,
            "shipped_at": state.shipped_at,
            "cancelled_at": state.cancelled_at,
            "cancel_reason": state.cancel_reason or None,
            "carrier": state.carrier,
            "tracking_number": state.tracking_number,
            "version": state.version,
            "search_text": _search_text(state),
        }
