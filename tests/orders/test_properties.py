"""Random command sequences against the Order aggregate, checked against a plain reference model."""

from __future__ import annotations

import json
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from orders.domain import commands as cmd
from orders.domain import events as ev
from orders.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    InvalidCommand,
    ItemNotFound,
    OrderNotFound,
    RuleViolation,
    VersionMismatch,
)
from orders.domain.handlers import handle
from orders.domain.model import Order
from orders.domain.values import Address, LineItem
from tests.orders.fakes import InMemoryOrderRepository

ORDER_ID = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
UNKNOWN_ID = uuid.UUID("00000000-0000-4000-8000-0000000000bb")
PRODUCTS = ["p1", "p2", "p3", "p4", "p5"]


# --- the reference model: the contract's rules written as plainly as possible ---------------
@dataclass
class Reference:
    exists: bool = False
    status: str = "pending"
    lines: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    address: Address | None = None
    version: int = 0

    @property
    def total(self) -> Decimal:
        return sum((q * p for q, p in self.lines.values()), Decimal("0.00"))

    @property
    def item_count(self) -> int:
        return sum(q for q, _ in self.lines.values())

    def expect(self, command: cmd.Command) -> tuple[type[DomainError], str] | None:
        """The error the command must raise, or None after applying it to this model."""
        if isinstance(command, cmd.CreateOrder):
            merged: dict[str, tuple[int, Decimal]] = {}
            for item in command.items:
                quantity = merged.get(item.product_id, (0, Decimal(0)))[0] + item.quantity
                merged[item.product_id] = (quantity, item.unit_price)
            # The command's own content is checked before the store is asked for the id.
            if any(quantity > 10_000 for quantity, _ in merged.values()):
                return InvalidCommand, "validation_error"
            if self.exists:
                return ConcurrencyConflict, "concurrency_conflict"
            self.exists, self.lines, self.address = True, merged, command.shipping_address
            self.version = 1
            return None
        assert isinstance(command, cmd.OrderCommand)
        if command.order_id != ORDER_ID or not self.exists:
            return OrderNotFound, "order_not_found"
        if command.expected_version is not None and command.expected_version != self.version:
            return VersionMismatch, "version_mismatch"
        closed = {"shipped": "order_shipped", "cancelled": "order_cancelled"}
        if isinstance(command, cmd.AddOrderItem):
            if self.status in closed:
                return RuleViolation, closed[self.status]
            item = command.item
            quantity = self.lines.get(item.product_id, (0, Decimal(0)))[0] + item.quantity
            if quantity > 10_000:
                return RuleViolation, "quantity_limit_exceeded"
            self.lines[item.product_id] = (quantity, item.unit_price)
        elif isinstance(command, cmd.RemoveOrderItem):
            if self.status in closed:
                return RuleViolation, closed[self.status]
            if command.product_id not in self.lines:
                return ItemNotFound, "item_not_found"
            del self.lines[command.product_id]
        elif isinstance(command, cmd.ChangeShippingAddress):
            if self.status in closed:
                return RuleViolation, closed[self.status]
            self.address = command.shipping_address
        elif isinstance(command, cmd.ShipOrder):
            if self.status in closed:
                return RuleViolation, closed[self.status]
            if not self.lines:
                return RuleViolation, "order_empty"
            self.status = "shipped"
        elif isinstance(command, cmd.CancelOrder):
            if self.status in closed:
                return RuleViolation, closed[self.status]
            self.status = "cancelled"
        self.version += 1
        return None


# --- strategies -----------------------------------------------------------------------------
# Whole cents 0..100,000,000 as exact two-place Decimals (0.00..1,000,000.00), edges included.
prices = st.one_of(
    st.sampled_from([0, 1, 99_999_999, 100_000_000]), st.integers(0, 100_000_000)
).map(lambda cents: Decimal(cents).scaleb(-2))
quantities = st.one_of(st.integers(1, 5), st.integers(1, 10_000))
lines = st.builds(LineItem, st.sampled_from(PRODUCTS), quantities, prices)
addresses = st.builds(
    Address,
    line1=st.sampled_from(["1 Main St", "2 Side Rd"]),
    city=st.sampled_from(["Springfield", "Shelbyville"]),
    postal_code=st.just("12345"),
    country=st.just("US"),
    line2=st.sampled_from(["", "Flat 3"]),
)
order_ids = st.sampled_from([ORDER_ID, ORDER_ID, ORDER_ID, UNKNOWN_ID])
expected_versions = st.one_of(st.none(), st.none(), st.integers(0, 8))


def _order_command(
    command_type: type[cmd.OrderCommand], **fields: st.SearchStrategy[Any]
) -> st.SearchStrategy[cmd.OrderCommand]:
    return st.builds(command_type, order_id=order_ids, expected_version=expected_versions, **fields)


commands = st.one_of(
    st.builds(
        cmd.CreateOrder,
        order_id=st.just(ORDER_ID),
        customer_id=st.just("cust-1"),
        items=st.lists(lines, min_size=1, max_size=6).map(tuple),
        shipping_address=addresses,
    ),
    _order_command(cmd.AddOrderItem, item=lines),
    _order_command(cmd.AddOrderItem, item=lines),
    _order_command(cmd.RemoveOrderItem, product_id=st.sampled_from(PRODUCTS)),
    _order_command(cmd.ChangeShippingAddress, shipping_address=addresses),
    _order_command(cmd.ShipOrder, carrier=st.just("UPS"), tracking_number=st.just("1Z")),
    _order_command(cmd.CancelOrder, reason=st.sampled_from(["r", "changed my mind"])),
)
# Most sequences should start with a create, so that later commands meet a real order.
sequences = st.tuples(st.booleans(), st.lists(commands, max_size=25)).map(
    lambda pair: ([_first_create()] if pair[0] else []) + pair[1]
)


def _first_create() -> cmd.CreateOrder:
    return cmd.CreateOrder(
        order_id=ORDER_ID,
        customer_id="cust-1",
        items=(LineItem("p1", 1, Decimal("1.00")),),
        shipping_address=Address("1 Main St", "Springfield", "12345", "US"),
    )


# No example database on disk, and no slow "explain" phase when a property fails.
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)


# --- the properties -------------------------------------------------------------------------
def _assert_same_state(order: Order, model: Reference) -> None:
    assert order.status.value == model.status
    assert {p: (line.quantity, line.unit_price) for p, line in order.lines.items()} == model.lines
    assert order.total == model.total
    assert isinstance(order.total, Decimal)
    assert order.total.as_tuple().exponent == -2
    assert order.item_count == model.item_count
    assert order.shipping_address == model.address
    assert order.version == model.version


@SETTINGS
@given(sequences)
def test_the_aggregate_always_agrees_with_the_reference_model(
    sequence: list[cmd.Command],
) -> None:
    repo, model = InMemoryOrderRepository(), Reference()
    for command in sequence:
        expected_error = model.expect(command)
        stored_before = sum(len(s) for s in repo.streams.values())
        if expected_error is None:
            result = handle(command, repo)
            assert result.version == model.version
            assert result.position == repo.position
        else:
            error_type, code = expected_error
            try:
                handle(command, repo)
            except DomainError as error:
                assert type(error) is error_type
                assert error.code == code
            else:
                raise AssertionError(f"{command} should have raised {error_type.__name__}")
            assert sum(len(s) for s in repo.streams.values()) == stored_before
        if model.exists:
            _assert_same_state(repo.get(ORDER_ID), model)
    assert set(repo.streams) <= {ORDER_ID}


@SETTINGS
@given(sequences)
def test_rebuilding_from_the_stored_payloads_gives_the_same_state(
    sequence: list[cmd.Command],
) -> None:
    repo = InMemoryOrderRepository()
    for command in sequence:
        with suppress(DomainError):
            handle(command, repo)
    if ORDER_ID not in repo.streams:
        return
    live = repo.get(ORDER_ID)
    stored = [
        (e.event_type, json.loads(json.dumps(e.to_payload()))) for e in repo.streams[ORDER_ID]
    ]

    rebuilt = Order.from_events(ORDER_ID, (ev.event_from_stored(t, d) for t, d in stored))

    assert rebuilt.version == live.version == len(stored)
    assert rebuilt.status == live.status
    assert rebuilt.lines == live.lines
    assert rebuilt.total == live.total
    assert rebuilt.item_count == live.item_count
    assert rebuilt.shipping_address == live.shipping_address
    assert rebuilt.cancel_reason == live.cancel_reason
    assert (rebuilt.carrier, rebuilt.tracking_number) == (live.carrier, live.tracking_number)
