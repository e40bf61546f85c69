"""What the order domain hands on, beyond which events and which error: the error details the API
returns, the order's identity fields, the events it has not saved yet, stored shapes and values
that must not change. Each test here notices a line of orders/domain/ that a wrong edit breaks."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest

from orders.domain import commands as cmd
from orders.domain import events as ev
from orders.domain.errors import (
    DomainError,
    InvalidCommand,
    ItemNotFound,
    RuleViolation,
    VersionMismatch,
)
from orders.domain.handlers import handle
from orders.domain.model import Order, OrderStatus
from orders.domain.values import (
    MAX_DISTINCT_PRODUCTS,
    Address,
    LineItem,
    checked_line,
    money,
)
from tests.orders.builders import ADDRESS, OTHER_ADDRESS, create_order, line, order_created
from tests.orders.fakes import InMemoryOrderRepository

ORDER_ID = uuid.UUID("00000000-0000-4000-8000-000000000002")


def _created_order(**overrides: object) -> Order:
    arguments: dict[str, object] = {
        "order_id": ORDER_ID,
        "customer_id": "cust-7",
        "items": (line("sku-1", 2, "10.00"),),
        "shipping_address": ADDRESS,
        "currency": "EUR",
    }
    arguments.update(overrides)
    return Order.create(**arguments)  # type: ignore[arg-type]


# --- error details (the API's "details") ----------------------------------------------------
def test_an_order_without_items_is_refused_with_the_message_under_items() -> None:
    with pytest.raises(InvalidCommand) as raised:
        _created_order(items=())

    assert raised.value.details == {"items": ["An order needs at least one item."]}
    assert raised.value.message == "An order needs at least one item."
    assert raised.value.code == "validation_error"


def test_an_order_with_too_many_products_is_refused_with_the_message_under_items() -> None:
    items = tuple(line(f"sku-{n}") for n in range(MAX_DISTINCT_PRODUCTS + 1))

    with pytest.raises(InvalidCommand) as raised:
        _created_order(items=items)

    message = "An order holds at most 500 distinct products."
    assert raised.value.details == {"items": [message]}
    assert str(raised.value) == message


def test_an_order_with_a_bad_currency_is_refused_with_the_message_under_currency() -> None:
    with pytest.raises(InvalidCommand) as raised:
        _created_order(currency="E1R")

    message = "currency must be a three-letter ISO 4217 code."
    assert raised.value.details == {"currency": [message]}
    assert raised.value.message == message


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (LineItem("sku-q", 0, Decimal("1.00")), "quantity must be 1..10000"),
        (LineItem("sku-q", 10_001, Decimal("1.00")), "quantity must be 1..10000"),
        (LineItem("sku-q", 1, Decimal("-0.01")), "unit_price must be 0.00..1000000.00"),
        (LineItem("sku-q", 1, Decimal("1000000.01")), "unit_price must be 0.00..1000000.00"),
    ],
)
def test_a_line_out_of_limits_is_refused_naming_its_product(item: LineItem, message: str) -> None:
    with pytest.raises(InvalidCommand) as raised:
        checked_line(item)

    assert raised.value.details == {"product_id": "sku-q"}
    assert raised.value.message == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "'abc' is not an amount"),
        ("1.005", "'1.005' is not an amount with at most two decimal places"),
        ("NaN", "'NaN' is not an amount with at most two decimal places"),
        ("-Infinity", "'-Infinity' is not an amount with at most two decimal places"),
        # More digits in cents than the decimal context holds: refused, not InvalidOperation.
        ("1e26", "'1e26' is not an amount"),
        ("-1E+400", "'-1E+400' is not an amount"),
        ("1" * 40, f"'{'1' * 40}' is not an amount"),
        ("1e-400", "'1e-400' is not an amount with at most two decimal places"),
    ],
)
def test_money_names_the_value_it_refuses(value: str, message: str) -> None:
    with pytest.raises(InvalidCommand) as raised:
        money(value)

    assert raised.value.message == message
    assert raised.value.details == {}


def test_adding_beyond_the_quantity_limit_names_the_product_in_the_details() -> None:
    order = Order.from_events(ORDER_ID, [order_created(ORDER_ID, items=(line("sku-1", 9_999),))])

    with pytest.raises(RuleViolation) as raised:
        order.add_item(line("sku-1", 2))

    assert raised.value.code == "quantity_limit_exceeded"
    assert raised.value.details == {"product_id": "sku-1"}
    assert raised.value.message == "A line holds at most 10000 units; sku-1 has 9999."
    assert order.pending == []


def test_adding_a_501st_product_is_refused_with_the_limit_in_the_message() -> None:
    full = tuple(line(f"sku-{n}") for n in range(MAX_DISTINCT_PRODUCTS))
    order = Order.from_events(ORDER_ID, [order_created(ORDER_ID, items=full)])

    with pytest.raises(RuleViolation) as raised:
        order.add_item(line("sku-new"))

    assert raised.value.message == "An order holds at most 500 distinct products."
    assert raised.value.details == {}


def test_removing_a_product_not_on_the_order_names_it_in_the_details() -> None:
    order = Order.from_events(ORDER_ID, [order_created(ORDER_ID)])

    with pytest.raises(ItemNotFound) as raised:
        order.remove_item("sku-9")

    assert raised.value.details == {"product_id": "sku-9"}
    assert raised.value.message == "Product sku-9 is not on this order."


def test_a_rule_violation_keeps_its_own_code_message_and_details() -> None:
    error = RuleViolation("some_rule", "Some rule says no.", product_id="sku-1", limit=3)

    assert isinstance(error, DomainError)
    assert error.code == "some_rule"
    assert error.message == "Some rule says no."
    assert str(error) == "Some rule says no."
    assert error.details == {"product_id": "sku-1", "limit": 3}
    assert RuleViolation.code == "rule_violation"


def test_a_version_mismatch_says_both_versions() -> None:
    error = VersionMismatch(expected=3, actual=1)

    assert error.message == "The order is at version 1, not 3."
    assert error.details == {"expected": 3, "actual": 1}


@pytest.mark.parametrize(
    ("history", "change", "message"),
    [
        ("shipped", lambda o: o.add_item(line("sku-3")), "Can't add items to a shipped order."),
        (
            "cancelled",
            lambda o: o.add_item(line("sku-3")),
            "Can't add items to a cancelled order.",
        ),
        (
            "cancelled",
            lambda o: o.remove_item("sku-1"),
            "Can't remove items from a cancelled order.",
        ),
        (
            "shipped",
            lambda o: o.change_shipping_address(OTHER_ADDRESS),
            "Can't change the address of a shipped order.",
        ),
        (
            "cancelled",
            lambda o: o.ship(carrier="", tracking_number=""),
            "A cancelled order can't be shipped.",
        ),
        (
            "shipped",
            lambda o: o.ship(carrier="", tracking_number=""),
            "The order has already been shipped.",
        ),
        (
            "emptied",
            lambda o: o.ship(carrier="", tracking_number=""),
            "An order with no items can't be shipped.",
        ),
        ("shipped", lambda o: o.cancel(reason="r"), "A shipped order can't be cancelled."),
        ("cancelled", lambda o: o.cancel(reason="r"), "The order is already cancelled."),
    ],
)
def test_an_order_says_why_it_refuses_a_change(history: str, change: object, message: str) -> None:
    """The message is what the API answers; a rule violation has no details of its own."""
    closing: ev.DomainEvent = {
        "shipped": ev.OrderShipped(order_id=ORDER_ID, carrier="UPS", tracking_number="1Z"),
        "cancelled": ev.OrderCancelled(order_id=ORDER_ID, reason="r"),
        "emptied": ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-1"),
    }[history]
    order = Order.from_events(ORDER_ID, [order_created(ORDER_ID), closing])

    with pytest.raises(RuleViolation) as raised:
        change(order)  # type: ignore[operator]

    assert raised.value.details == {}
    assert raised.value.message == message
    assert order.pending == []


# --- the order's own fields, after deciding and after a rebuild -----------------------------
def test_a_created_order_holds_its_customer_currency_lines_and_address() -> None:
    order = _created_order(currency="eur")

    assert (order.id, order.customer_id, order.currency) == (ORDER_ID, "cust-7", "EUR")
    assert order.lines == {"sku-1": line("sku-1", 2, "10.00")}
    assert order.shipping_address == ADDRESS
    assert order.status is OrderStatus.PENDING
    assert (order.carrier, order.tracking_number, order.cancel_reason) == ("", "", "")
    assert order.version == 0


def test_a_new_order_before_any_event_is_pending_and_empty() -> None:
    order = Order(ORDER_ID)

    assert order.version == 0
    assert order.status is OrderStatus.PENDING
    assert (order.customer_id, order.currency, order.cancel_reason) == ("", "", "")
    assert order.lines == {}
    assert order.shipping_address is None
    assert order.pending == []
    assert order.total == Decimal("0.00")
    assert str(order.total) == "0.00"
    assert order.item_count == 0


def test_a_cancelled_order_keeps_its_reason() -> None:
    order = _created_order()

    order.cancel(reason="found it cheaper")

    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason == "found it cheaper"


def test_an_order_rebuilt_from_its_events_has_its_customer_currency_and_cancel_reason() -> None:
    repo = InMemoryOrderRepository(
        order_created(ORDER_ID, customer_id="cust-9", currency="GBP"),
        ev.OrderCancelled(order_id=ORDER_ID, reason="duplicate"),
    )

    order = repo.get(ORDER_ID)

    assert (order.customer_id, order.currency) == ("cust-9", "GBP")
    assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "duplicate")
    assert order.version == 2


@pytest.mark.parametrize("status", list(OrderStatus))
def test_order_statuses_are_stored_by_their_lowercase_names(status: OrderStatus) -> None:
    assert status.value == status.name.lower()


# --- what the order has not saved yet -------------------------------------------------------
def test_a_created_order_has_its_order_created_event_pending() -> None:
    order = _created_order()

    assert order.pending == [
        ev.OrderCreated(
            order_id=ORDER_ID,
            customer_id="cust-7",
            currency="EUR",
            items=(line("sku-1", 2, "10.00"),),
            shipping_address=ADDRESS,
        )
    ]


def test_each_decision_appends_its_event_to_the_pending_ones_in_order() -> None:
    order = Order.from_events(ORDER_ID, [order_created(ORDER_ID)])

    order.add_item(line("sku-2", 1, "3.00"))
    order.change_shipping_address(OTHER_ADDRESS)
    order.ship(carrier="DHL", tracking_number="JD1")

    assert order.pending == [
        ev.OrderItemAdded(
            order_id=ORDER_ID, item=line("sku-2", 1, "3.00"), line=line("sku-2", 1, "3.00")
        ),
        ev.ShippingAddressChanged(order_id=ORDER_ID, shipping_address=OTHER_ADDRESS),
        ev.OrderShipped(order_id=ORDER_ID, carrier="DHL", tracking_number="JD1"),
    ]
    assert order.version == 1


def test_a_saved_order_has_nothing_pending_and_counts_its_events() -> None:
    repo = InMemoryOrderRepository()
    order = _created_order()
    order.add_item(line("sku-2"))

    result = repo.save(order)

    assert order.pending == []
    assert order.version == 2 == result.version
    assert len(repo.streams[ORDER_ID]) == 2


def test_a_handled_command_saves_exactly_the_events_its_decision_recorded() -> None:
    repo = InMemoryOrderRepository(order_created(ORDER_ID))

    handle(cmd.RemoveOrderItem(order_id=ORDER_ID, product_id="sku-1"), repo)
    handle(cmd.CancelOrder(order_id=ORDER_ID, reason="empty"), repo)

    assert repo.streams[ORDER_ID][1:] == [
        ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-1"),
        ev.OrderCancelled(order_id=ORDER_ID, reason="empty"),
    ]


# --- money ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-0.00", "-0", Decimal("-0.00"), "0"])
def test_money_turns_a_negative_zero_into_a_plain_zero(value: str | Decimal) -> None:
    amount = money(value)

    assert str(amount) == "0.00"
    assert not amount.is_signed()


def test_a_line_priced_negative_zero_is_recorded_at_zero() -> None:
    checked = checked_line(LineItem("sku-1", 1, Decimal("-0.00")))

    assert checked.to_payload()["unit_price"] == "0.00"
    assert str(checked.line_total) == "0.00"


def test_a_line_equal_to_another_ignores_nothing_but_its_derived_total() -> None:
    assert line("sku-1", 2, "1.00") != line("sku-2", 2, "1.00")
    assert line("sku-1", 2, "1.00") != line("sku-1", 3, "1.00")
    assert line("sku-1", 2, "1.00") != line("sku-1", 2, "1.01")
    assert line("sku-1", 2, "1.00") == LineItem("sku-1", 2, Decimal("1.0"))


# --- stored shapes --------------------------------------------------------------------------
def test_an_order_shipped_stored_without_carrier_or_tracking_number_loads_with_empty_ones() -> None:
    stored = {"order_id": str(ORDER_ID)}

    event = ev.event_from_stored("OrderShipped", stored)

    assert event == ev.OrderShipped(order_id=ORDER_ID, carrier="", tracking_number="")


def test_an_address_stored_without_line2_or_with_null_loads_with_an_empty_one() -> None:
    payload = ADDRESS.to_payload()
    del payload["line2"]

    assert Address.from_payload(payload) == ADDRESS
    assert Address.from_payload({**payload, "line2": None}) == ADDRESS
    assert Address.from_payload(OTHER_ADDRESS.to_payload()) == OTHER_ADDRESS


def test_a_line_item_payload_names_its_fields_and_keeps_the_price_as_text() -> None:
    assert line("sku-1", 3, "4.50").to_payload() == {
        "product_id": "sku-1",
        "quantity": 3,
        "unit_price": "4.50",
    }
    assert LineItem.from_payload({"product_id": "p", "quantity": "2", "unit_price": "1.5"}) == (
        LineItem("p", 2, Decimal("1.5"))
    )


def test_event_payloads_have_exactly_the_documented_keys() -> None:
    added = ev.OrderItemAdded(
        order_id=ORDER_ID, item=line("sku-1", 1, "2.00"), line=line("sku-1", 3, "2.00")
    )
    created = order_created(ORDER_ID)

    assert added.to_payload() == {
        "order_id": str(ORDER_ID),
        "product_id": "sku-1",
        "quantity": 1,
        "unit_price": "2.00",
        "line": {"quantity": 3, "unit_price": "2.00"},
    }
    assert set(created.to_payload()) == {
        "order_id",
        "customer_id",
        "currency",
        "items",
        "shipping_address",
    }
    assert ev.OrderShipped(order_id=ORDER_ID, carrier="c", tracking_number="t").to_payload() == {
        "order_id": str(ORDER_ID),
        "carrier": "c",
        "tracking_number": "t",
    }


@pytest.mark.parametrize(
    ("event_type", "cls", "schema_version"),
    [
        ("OrderCreated", ev.OrderCreated, 1),
        ("OrderItemAdded", ev.OrderItemAdded, 2),  # the line after it recorded
        ("OrderItemRemoved", ev.OrderItemRemoved, 1),
        ("ShippingAddressChanged", ev.ShippingAddressChanged, 1),
        ("OrderShipped", ev.OrderShipped, 1),
        ("OrderCancelled", ev.OrderCancelled, 1),
    ],
)
def test_each_event_type_keeps_its_stored_name_and_schema_version(
    event_type: str, cls: type[ev.DomainEvent], schema_version: int
) -> None:
    assert cls.event_type == event_type
    assert cls.schema_version == schema_version
    assert ev.EVENT_TYPES[event_type] is cls


def test_the_base_event_has_no_payload_of_its_own() -> None:
    with pytest.raises(NotImplementedError):
        ev.DomainEvent(order_id=ORDER_ID).to_payload()
    with pytest.raises(NotImplementedError):
        ev.DomainEvent.from_payload({})


def test_an_unknown_stored_event_type_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"^Unknown order event type 'OrderLost'$"):
        ev.event_from_stored("OrderLost", {})


# --- values that must not change ------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "field"),
    [
        (line(), "quantity"),
        (line(), "line_total"),
        (ADDRESS, "city"),
        (order_created(ORDER_ID), "customer_id"),
        (ev.OrderCancelled(order_id=ORDER_ID, reason="r"), "reason"),
        (cmd.CancelOrder(order_id=ORDER_ID, reason="r"), "reason"),
        (create_order(), "currency"),
    ],
)
def test_values_events_and_commands_cannot_be_changed(value: object, field: str) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, 1)


def test_every_create_order_command_gets_a_fresh_order_id_and_command_id() -> None:
    first = cmd.CreateOrder(customer_id="c", items=(line(),), shipping_address=ADDRESS)
    second = cmd.CreateOrder(customer_id="c", items=(line(),), shipping_address=ADDRESS)

    assert first.order_id != second.order_id
    assert first.command_id != second.command_id
    assert first.order_id.version == 4
    assert first.currency == "USD"


def test_order_command_defaults_expect_no_version_and_ship_with_no_carrier() -> None:
    ship = cmd.ShipOrder(order_id=ORDER_ID)

    assert ship.expected_version is None
    assert (ship.carrier, ship.tracking_number) == ("", "")


def test_creating_an_order_through_its_handler_saves_every_field_of_the_command() -> None:
    repo = InMemoryOrderRepository()
    command = create_order(
        order_id=ORDER_ID, customer_id="cust-3", currency="JPY", shipping_address=OTHER_ADDRESS
    )

    handle(command, repo)

    order = repo.get(ORDER_ID)
    assert (order.customer_id, order.currency, order.shipping_address) == (
        "cust-3",
        "JPY",
        OTHER_ADDRESS,
    )
