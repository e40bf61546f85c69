"""The order domain without a database: given these events, when this command, then these events."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from common.dispatch import NoHandlerError
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
from orders.domain.handlers import HANDLERS, CommandResult, handle
from orders.domain.model import OrderStatus
from orders.domain.values import MAX_DISTINCT_PRODUCTS, LineItem, checked_line, money
from tests.orders.builders import ADDRESS, OTHER_ADDRESS, create_order, line, order_created
from tests.orders.fakes import InMemoryOrderRepository

ORDER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


# --- given / when / then ------------------------------------------------------------------
def given(*history: ev.DomainEvent) -> InMemoryOrderRepository:
    """A repository whose streams already hold ``history`` (as if earlier commands ran)."""
    return InMemoryOrderRepository(*history)


def when(repo: InMemoryOrderRepository, command: cmd.Command) -> list[ev.DomainEvent]:
    """Decide ``command`` with its handler; the events it appended to its order."""
    order_id = command.order_id  # type: ignore[attr-defined]
    before = len(repo.streams.get(order_id, []))
    handle(command, repo)
    return repo.streams[order_id][before:]


def then_raises(
    repo: InMemoryOrderRepository, command: cmd.Command, error: type[DomainError]
) -> DomainError:
    """Dispatching ``command`` raises ``error`` and appends nothing anywhere."""
    snapshot = {order_id: list(stream) for order_id, stream in repo.streams.items()}
    position = repo.position
    with pytest.raises(error) as raised:
        handle(command, repo)
    assert repo.streams == snapshot
    assert repo.position == position
    return raised.value


CREATED = order_created(ORDER_ID, items=(line("sku-1", 2, "10.00"), line("sku-2", 1, "5.50")))
SHIPPED = ev.OrderShipped(order_id=ORDER_ID, carrier="UPS", tracking_number="1Z")
CANCELLED = ev.OrderCancelled(order_id=ORDER_ID, reason="changed my mind")


# --- creating -------------------------------------------------------------------------------
def test_creating_an_order_records_order_created_with_its_items_and_address() -> None:
    command = create_order(order_id=ORDER_ID, items=(line("sku-1", 2, "10.00"),))

    assert when(given(), command) == [
        ev.OrderCreated(
            order_id=ORDER_ID,
            customer_id="cust-1",
            currency="USD",
            items=(line("sku-1", 2, "10.00"),),
            shipping_address=ADDRESS,
        )
    ]


def test_creating_an_order_answers_its_id_version_one_and_position() -> None:
    repo = given(order_created(uuid.uuid4()))

    result = handle(create_order(order_id=ORDER_ID), repo)

    assert result == CommandResult(order_id=ORDER_ID, version=1, position=2)


def test_creating_an_order_without_items_is_refused() -> None:
    then_raises(given(), create_order(order_id=ORDER_ID, items=()), InvalidCommand)


def test_creating_an_order_merges_lines_of_the_same_product_into_one() -> None:
    command = create_order(
        order_id=ORDER_ID, items=(line("sku-1", 2, "10.00"), line("sku-1", 3, "10.00"))
    )

    [created] = when(given(), command)

    assert isinstance(created, ev.OrderCreated)
    assert created.items == (line("sku-1", 5, "10.00"),)


def test_creating_an_order_with_exactly_500_distinct_products_is_accepted() -> None:
    items = tuple(line(f"sku-{n}") for n in range(MAX_DISTINCT_PRODUCTS))

    [created] = when(given(), create_order(order_id=ORDER_ID, items=items))

    assert isinstance(created, ev.OrderCreated)
    assert len(created.items) == 500


def test_creating_an_order_with_501_distinct_products_is_refused() -> None:
    items = tuple(line(f"sku-{n}") for n in range(MAX_DISTINCT_PRODUCTS + 1))

    then_raises(given(), create_order(order_id=ORDER_ID, items=items), InvalidCommand)


@pytest.mark.parametrize("currency", ["", "US", "USDX", "U$D", "123"])
def test_creating_an_order_with_a_currency_that_is_not_three_letters_is_refused(
    currency: str,
) -> None:
    then_raises(given(), create_order(order_id=ORDER_ID, currency=currency), InvalidCommand)


def test_creating_an_order_uppercases_its_currency() -> None:
    [created] = when(given(), create_order(order_id=ORDER_ID, currency="eur"))

    assert isinstance(created, ev.OrderCreated)
    assert created.currency == "EUR"


def test_creating_an_order_whose_id_is_taken_is_a_concurrency_conflict() -> None:
    then_raises(given(CREATED), create_order(order_id=ORDER_ID), ConcurrencyConflict)


# --- line limits ----------------------------------------------------------------------------
@pytest.mark.parametrize("quantity", [1, 2, 9_999, 10_000])
def test_a_line_accepts_a_quantity_from_1_to_10000(quantity: int) -> None:
    assert checked_line(LineItem("sku-1", quantity, Decimal("1.00"))).quantity == quantity


@pytest.mark.parametrize("quantity", [-1, 0, 10_001, 10**9])
def test_a_line_refuses_a_quantity_outside_1_to_10000(quantity: int) -> None:
    with pytest.raises(InvalidCommand):
        checked_line(LineItem("sku-1", quantity, Decimal("1.00")))


@pytest.mark.parametrize("price", ["0.00", "0.01", "999999.99", "1000000.00"])
def test_a_line_accepts_a_unit_price_from_0_to_1000000(price: str) -> None:
    assert checked_line(LineItem("sku-1", 1, Decimal(price))).unit_price == Decimal(price)


@pytest.mark.parametrize("price", ["-0.01", "-1", "1000000.01", "1e9"])
def test_a_line_refuses_a_unit_price_outside_0_to_1000000(price: str) -> None:
    with pytest.raises(InvalidCommand):
        checked_line(LineItem("sku-1", 1, Decimal(price)))


def test_a_line_refuses_a_unit_price_with_more_than_two_decimal_places() -> None:
    with pytest.raises(InvalidCommand):
        checked_line(LineItem("sku-1", 1, Decimal("1.005")))


@pytest.mark.parametrize(
    "command",
    [
        create_order(order_id=ORDER_ID, items=(LineItem("sku-1", 0, Decimal("1.00")),)),
        cmd.AddOrderItem(order_id=ORDER_ID, item=LineItem("sku-9", 1, Decimal("0.005"))),
    ],
)
def test_a_command_with_a_line_out_of_limits_is_refused(command: cmd.Command) -> None:
    then_raises(given(CREATED), command, InvalidCommand)


def test_a_line_is_recorded_with_its_price_in_exact_cents() -> None:
    command = cmd.AddOrderItem(order_id=ORDER_ID, item=LineItem("sku-9", 1, Decimal("2.5")))

    [added] = when(given(CREATED), command)

    assert isinstance(added, ev.OrderItemAdded)
    assert added.to_payload()["unit_price"] == "2.50"


def test_an_order_loads_even_if_its_lines_break_a_limit_lowered_since() -> None:
    """Limits are checked when a command is decided, never when the log is read back."""
    stored = order_created(ORDER_ID, items=(LineItem("sku-1", 50_000, Decimal("2000000.00")),))
    repo = given(stored)

    order = repo.get(ORDER_ID)

    assert order.lines["sku-1"].quantity == 50_000
    assert order.total == Decimal("100000000000.00")


def test_a_line_total_is_the_exact_decimal_product_of_quantity_and_price() -> None:
    assert line("sku-1", 3, "0.10").line_total == Decimal("0.30")
    assert line("sku-1", 10_000, "1000000.00").line_total == Decimal("10000000000.00")
    assert line("sku-1", 7, "0.07").line_total == Decimal("0.49")


@pytest.mark.parametrize("value", ["1.005", "0.001", "NaN", "Infinity"])
def test_money_refuses_anything_but_a_finite_amount_in_cents(value: str) -> None:
    with pytest.raises(InvalidCommand):
        money(value)


def test_money_keeps_two_decimal_places() -> None:
    assert str(money("12.5")) == "12.50"
    assert str(money(3)) == "3.00"


# --- adding items ---------------------------------------------------------------------------
def test_adding_a_new_product_records_order_item_added() -> None:
    command = cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-3", 4, "1.25"))

    assert when(given(CREATED), command) == [
        ev.OrderItemAdded(
            order_id=ORDER_ID, item=line("sku-3", 4, "1.25"), line=line("sku-3", 4, "1.25")
        )
    ]


def test_adding_a_product_already_on_the_order_adds_to_its_quantity() -> None:
    repo = given(CREATED)

    when(repo, cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-1", 3, "10.00")))

    order = repo.get(ORDER_ID)
    assert order.lines["sku-1"] == line("sku-1", 5, "10.00")
    assert len(order.lines) == 2
    assert order.item_count == 6
    assert order.total == Decimal("55.50")


def test_adding_a_product_beyond_10000_units_on_its_line_is_refused() -> None:
    repo = given(order_created(ORDER_ID, items=(line("sku-1", 9_999),)))

    error = then_raises(
        repo, cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-1", 2)), RuleViolation
    )

    assert error.code == "quantity_limit_exceeded"


def test_adding_a_product_up_to_exactly_10000_units_on_its_line_is_accepted() -> None:
    repo = given(order_created(ORDER_ID, items=(line("sku-1", 9_999),)))

    when(repo, cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-1", 1)))

    assert repo.get(ORDER_ID).lines["sku-1"].quantity == 10_000


def test_adding_a_501st_distinct_product_is_refused() -> None:
    full = tuple(line(f"sku-{n}") for n in range(MAX_DISTINCT_PRODUCTS))
    repo = given(order_created(ORDER_ID, items=full))

    error = then_raises(
        repo, cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-new")), RuleViolation
    )

    assert error.code == "too_many_products"


def test_adding_a_product_already_on_a_full_order_is_accepted() -> None:
    full = tuple(line(f"sku-{n}") for n in range(MAX_DISTINCT_PRODUCTS))
    repo = given(order_created(ORDER_ID, items=full))

    when(repo, cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-0", 4)))

    assert repo.get(ORDER_ID).lines["sku-0"].quantity == 5


# --- removing items and changing the address ------------------------------------------------
def test_removing_a_product_records_order_item_removed() -> None:
    command = cmd.RemoveOrderItem(order_id=ORDER_ID, product_id="sku-2")

    assert when(given(CREATED), command) == [
        ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-2")
    ]


def test_removing_a_product_not_on_the_order_is_refused() -> None:
    command = cmd.RemoveOrderItem(order_id=ORDER_ID, product_id="sku-9")

    error = then_raises(given(CREATED), command, ItemNotFound)

    assert error.code == "item_not_found"


def test_changing_the_address_records_shipping_address_changed() -> None:
    command = cmd.ChangeShippingAddress(order_id=ORDER_ID, shipping_address=OTHER_ADDRESS)

    assert when(given(CREATED), command) == [
        ev.ShippingAddressChanged(order_id=ORDER_ID, shipping_address=OTHER_ADDRESS)
    ]


# --- shipping and cancelling ----------------------------------------------------------------
def test_shipping_a_pending_order_records_order_shipped() -> None:
    command = cmd.ShipOrder(order_id=ORDER_ID, carrier="UPS", tracking_number="1Z")

    assert when(given(CREATED), command) == [SHIPPED]


def test_shipping_an_order_with_no_items_is_refused() -> None:
    emptied = (
        CREATED,
        ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-1"),
        ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-2"),
    )

    error = then_raises(given(*emptied), cmd.ShipOrder(order_id=ORDER_ID), RuleViolation)

    assert error.code == "order_empty"


def test_shipping_a_cancelled_order_is_refused_as_order_cancelled() -> None:
    error = then_raises(given(CREATED, CANCELLED), cmd.ShipOrder(order_id=ORDER_ID), RuleViolation)

    assert error.code == "order_cancelled"


def test_shipping_a_shipped_order_again_is_refused_as_order_shipped() -> None:
    error = then_raises(given(CREATED, SHIPPED), cmd.ShipOrder(order_id=ORDER_ID), RuleViolation)

    assert error.code == "order_shipped"


def test_cancelling_a_pending_order_records_order_cancelled() -> None:
    command = cmd.CancelOrder(order_id=ORDER_ID, reason="changed my mind")

    assert when(given(CREATED), command) == [CANCELLED]


def test_cancelling_a_shipped_order_is_refused_as_order_shipped() -> None:
    command = cmd.CancelOrder(order_id=ORDER_ID, reason="too late")

    error = then_raises(given(CREATED, SHIPPED), command, RuleViolation)

    assert error.code == "order_shipped"


def test_cancelling_a_cancelled_order_is_refused_as_order_cancelled() -> None:
    command = cmd.CancelOrder(order_id=ORDER_ID, reason="again")

    error = then_raises(given(CREATED, CANCELLED), command, RuleViolation)

    assert error.code == "order_cancelled"


CHANGES = {
    "add": cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-3")),
    "remove": cmd.RemoveOrderItem(order_id=ORDER_ID, product_id="sku-1"),
    "address": cmd.ChangeShippingAddress(order_id=ORDER_ID, shipping_address=OTHER_ADDRESS),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
@pytest.mark.parametrize(
    ("closing", "code"), [(SHIPPED, "order_shipped"), (CANCELLED, "order_cancelled")]
)
def test_a_shipped_or_cancelled_order_refuses_item_and_address_changes(
    change: cmd.Command, closing: ev.DomainEvent, code: str
) -> None:
    error = then_raises(given(CREATED, closing), change, RuleViolation)

    assert error.code == code


def test_rule_violations_are_domain_errors_with_the_code_the_api_maps() -> None:
    error = then_raises(given(CREATED, CANCELLED), cmd.ShipOrder(order_id=ORDER_ID), RuleViolation)

    assert isinstance(error, DomainError)
    assert error.message


# --- unknown orders and versions ------------------------------------------------------------
ORDER_COMMANDS = {
    "add": cmd.AddOrderItem(order_id=ORDER_ID, item=line()),
    "remove": cmd.RemoveOrderItem(order_id=ORDER_ID, product_id="sku-1"),
    "address": cmd.ChangeShippingAddress(order_id=ORDER_ID, shipping_address=ADDRESS),
    "ship": cmd.ShipOrder(order_id=ORDER_ID),
    "cancel": cmd.CancelOrder(order_id=ORDER_ID, reason="r"),
}


@pytest.mark.parametrize("command", ORDER_COMMANDS.values(), ids=ORDER_COMMANDS.keys())
def test_a_command_on_an_unknown_order_raises_order_not_found(command: cmd.Command) -> None:
    error = then_raises(given(order_created(uuid.uuid4())), command, OrderNotFound)

    assert error.code == "order_not_found"
    assert error.details == {"order_id": str(ORDER_ID)}


@pytest.mark.parametrize("name", ORDER_COMMANDS.keys())
def test_a_command_expecting_another_version_raises_version_mismatch(name: str) -> None:
    command = _with_expected_version(ORDER_COMMANDS[name], 3)

    error = then_raises(given(CREATED), command, VersionMismatch)

    assert error.code == "version_mismatch"
    assert error.details == {"expected": 3, "actual": 1}


def test_a_command_with_a_matching_expected_version_records_its_event() -> None:
    repo = given(CREATED, ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-2"))
    command = cmd.AddOrderItem(order_id=ORDER_ID, item=line("sku-3"), expected_version=2)

    assert when(repo, command) == [
        ev.OrderItemAdded(order_id=ORDER_ID, item=line("sku-3"), line=line("sku-3"))
    ]
    assert handle(cmd.ShipOrder(order_id=ORDER_ID, expected_version=3), repo) == CommandResult(
        ORDER_ID, 4, 4
    )


def test_saving_an_order_loaded_before_another_write_raises_concurrency_conflict() -> None:
    repo = given(CREATED)
    first, second = repo.get(ORDER_ID), repo.get(ORDER_ID)
    first.add_item(line("sku-3"))
    repo.save(first)
    second.add_item(line("sku-4"))

    with pytest.raises(ConcurrencyConflict):
        repo.save(second)
    assert len(repo.streams[ORDER_ID]) == 2


def _with_expected_version(command: cmd.Command, version: int) -> cmd.Command:
    return replace(command, expected_version=version)  # type: ignore[type-var]


# --- routing --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class FrobnicateOrder(cmd.OrderCommand):
    pass


def test_dispatching_a_command_without_a_handler_raises_no_handler_error_naming_it() -> None:
    with pytest.raises(NoHandlerError, match="FrobnicateOrder"):
        handle(FrobnicateOrder(order_id=ORDER_ID), given(CREATED))


def test_every_command_type_has_a_handler() -> None:
    command_types = {
        cmd.CreateOrder,
        cmd.AddOrderItem,
        cmd.RemoveOrderItem,
        cmd.ChangeShippingAddress,
        cmd.ShipOrder,
        cmd.CancelOrder,
    }

    assert set(HANDLERS) == command_types


# --- rebuilding -----------------------------------------------------------------------------
def test_an_order_rebuilt_from_its_events_has_the_state_they_describe() -> None:
    repo = given(
        CREATED,
        ev.OrderItemAdded(
            order_id=ORDER_ID, item=line("sku-1", 1, "12.00"), line=line("sku-1", 3, "12.00")
        ),
        ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-2"),
        ev.ShippingAddressChanged(order_id=ORDER_ID, shipping_address=OTHER_ADDRESS),
        SHIPPED,
    )

    order = repo.get(ORDER_ID)

    assert order.version == 5
    assert order.status is OrderStatus.SHIPPED
    assert order.lines == {"sku-1": line("sku-1", 3, "12.00")}
    assert order.total == Decimal("36.00")
    assert order.item_count == 3
    assert order.shipping_address == OTHER_ADDRESS
    assert (order.carrier, order.tracking_number) == ("UPS", "1Z")
    assert order.pending == []


# --- stored payloads ------------------------------------------------------------------------
SAMPLE_EVENTS = [
    order_created(
        ORDER_ID,
        items=(line("sku-1", 2, "10.00"), line("sku-2", 10_000, "1000000.00")),
        shipping_address=OTHER_ADDRESS,
        currency="EUR",
    ),
    ev.OrderItemAdded(
        order_id=ORDER_ID, item=line("sku-3", 3, "0.00"), line=line("sku-3", 3, "0.00")
    ),
    ev.OrderItemRemoved(order_id=ORDER_ID, product_id="sku-3"),
    ev.ShippingAddressChanged(order_id=ORDER_ID, shipping_address=ADDRESS),
    ev.OrderShipped(order_id=ORDER_ID, carrier="DHL", tracking_number="JD0001"),
    ev.OrderCancelled(order_id=ORDER_ID, reason="ünïcode reason ✓"),
]


def test_the_payload_samples_cover_every_event_type() -> None:
    assert {type(e) for e in SAMPLE_EVENTS} == set(ev.EVENT_TYPES.values())


@pytest.mark.parametrize("event", SAMPLE_EVENTS, ids=lambda e: e.event_type)
def test_every_event_survives_a_json_payload_round_trip(event: ev.DomainEvent) -> None:
    stored = json.loads(json.dumps(event.to_payload()))

    assert ev.event_from_stored(event.event_type, stored) == event
    assert type(event).from_payload(stored) == event


def test_event_payloads_keep_prices_as_two_place_strings_not_floats() -> None:
    created, added = SAMPLE_EVENTS[0].to_payload(), SAMPLE_EVENTS[1].to_payload()

    assert [i["unit_price"] for i in created["items"]] == ["10.00", "1000000.00"]
    assert added["unit_price"] == "0.00"


def test_rebuilding_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="OrderTeleported"):
        ev.event_from_stored("OrderTeleported", {"order_id": str(ORDER_ID)})
