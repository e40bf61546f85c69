"""The base of the report read models: per-order facts, aggregates moved by deltas.

Each report projection keeps a small fact table (one row per order) and, for each batch,
computes what the touched orders contributed to the report before and after it, and adds the
difference (``x = x + excluded.x``). A batch therefore costs the same however many orders a
day or a customer already has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

from django.db import models

from eventstore.store import RecordedEvent, Shard
from projections.read_models.folding import (
    OrderId,
    OrderState,
    fold,
    lines_from_payload,
    order_id_of,
)
from projections.read_models.models import OrderFact
from projections.read_models.per_order import OrderProjection, Writes
from projections.read_models.toolkit import tables

_FACT_COLUMNS = (
    "customer_id",
    "status",
    "lines",
    "total_amount",
    "item_count",
    "created_at",
    "shipped_at",
    "cancelled_at",
)
# What one order adds to one report row: (the row's key, values of the report's ``sums``
# columns followed by its ``latest`` ones).
Contribution = tuple[Any, tuple[Any, ...]]


class FactProjection(OrderProjection):
    """A report fed by per-order facts; subclasses say what one order contributes to it."""

    fact_model: ClassVar[type[OrderFact]]
    report_model: ClassVar[type[models.Model]]
    key: ClassVar[str]
    sums: ClassVar[tuple[str, ...]]  # columns that add up
    latest: ClassVar[tuple[str, ...]] = ()  # columns that keep their maximum

    def contributions(self, state: OrderState) -> Iterable[Contribution]:
        raise NotImplementedError

    def load(self, generation: int, order_ids: set[OrderId]) -> dict[OrderId, OrderState]:
        states = {}
        for fact in tables.load(
            self.fact_model,
            generation,
            "order_id",
            order_ids,
            (
                "order_id",
                "customer_id",
                "status",
                "lines",
                "created_at",
                "shipped_at",
                "cancelled_at",
            ),
        ):
            order_id = str(fact.pop("order_id"))
            fact["lines"] = lines_from_payload(fact["lines"])
            states[order_id] = OrderState(order_id, **fact)
        return states

    def writes(
        self,
        events: Sequence[RecordedEvent],
        states: dict[OrderId, OrderState],
        generation: int,
        settle: Callable[[], None],
        part: Shard,
    ) -> Writes:
        states = self.states_for(events, states, generation, settle)
        before = _Totals(len(self.sums))
        for order_id in {order_id_of(e) for e in events}:
            state = states.get(order_id)
            if state is not None:
                before.add(self.contributions(state))
        touched = fold(events, states)
        facts = [
            {
                "order_id": state.order_id,
                "customer_id": state.customer_id,
                "status": state.status,
                "lines": state.lines_payload(),
                "total_amount": state.total,
                "item_count": state.item_count,
                "created_at": state.created_at,
                "shipped_at": state.shipped_at,
                "cancelled_at": state.cancelled_at,
            }
            for state in touched.values()
        ]
        deltas = _Totals(len(self.sums))
        for state in touched.values():
            deltas.add(self.contributions(state))
        deltas.subtract(before)
        columns = (*self.sums, *self.latest)
        report = [
            {self.key: key, **dict(zip(columns, values, strict=True))} for key, values in deltas
        ]

        def write() -> None:
            tables.upsert(
                self.fact_model, generation, facts, unique=["order_id"], update=_FACT_COLUMNS
            )
            tables.add(
                self.report_model,
                generation,
                report,
                key=self.key,
                sums=self.sums,
                latest=self.latest,
                shard=part.index,
            )

        return write


class _Totals:
    """Report rows being added up: ``sums`` counters, then maxima (timestamps)."""

    def __init__(self, sums: int) -> None:
        self.sums = sums
        self.rows: dict[Any, list[Any]] = {}

    def add(self, parts: Iterable[Contribution]) -> None:
        for key, values in parts:
            row = self.rows.get(key)
            if row is None:
                self.rows[key] = list(values)
                continue
            for i in range(self.sums):
                row[i] += values[i]
            for i in range(self.sums, len(values)):
                if values[i] is not None and (row[i] is None or values[i] > row[i]):
                    row[i] = values[i]

    def subtract(self, other: _Totals) -> None:
        """Take ``other``'s counters off (a maximum cannot be taken back: it stays)."""
        for key, values in other.rows.items():
            row = self.rows.setdefault(key, [0] * self.sums + [None] * (len(values) - self.sums))
            for i in range(self.sums):
                row[i] -= values[i]

    def __iter__(self) -> Iterator[tuple[Any, list[Any]]]:
        """The rows that change anything."""
        for key, row in self.rows.items():
            if any(row[: self.sums]) or any(v is not None for v in row[self.sums :]):
                yield key, row
