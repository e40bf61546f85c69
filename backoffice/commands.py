"""Staff commands on orders: what each asks for, run as the staff user through the command
service the API uses, and the wait until the order pages' read model has the result.

The staff user is the actor in the events' metadata, each command gets a correlation id of its
own; a business rule's refusal (a DomainError) comes back as text for the form to show and
appends nothing; the page shown afterwards waits until the read model has the command's
position (read-your-writes), or says it has not caught up yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.contrib import messages
from django.forms import BaseFormSet
from django.http import HttpRequest

from backoffice import forms as f
from orders.domain import commands as cmd
from orders.domain.errors import ConcurrencyConflict, DomainError, VersionMismatch
from orders.domain.handlers import CommandResult
from orders.domain.values import Address, LineItem
from orders.services import execute_command
from projections.engine.consistency import wait_until_applied
from projections.read_models.models import OrderView

# The projections the order pages read: a command's result is shown once these have it.
ORDER_PAGES_FEED: Final = ("order_views",)

Data = dict[str, Any]


def address_of(data: Data) -> Address:
    return Address.from_payload(data)


def item_of(data: Data) -> LineItem:
    return LineItem(data["product_id"], data["quantity"], data["unit_price"])


@dataclass(frozen=True)
class OrderCommand:
    """A command on an existing order, as its form page asks for it."""

    title: str  # the page's title, before the order id
    tool: str  # the link on the order's page
    submit: str  # the button
    form: type[f.OrderCommandForm]
    command: Callable[[OrderView, Data], cmd.OrderCommand]
    done: str  # "Order <id> <done>."
    back: str = "Back to the order"
    css: str = ""
    initial: Callable[[OrderView], Data] = lambda order: {}


def _seen(data: Data) -> int | None:
    seen = data.get("seen_version")
    return None if seen is None else int(seen)


COMMANDS: Final = {
    "add-item": OrderCommand(
        "Add an item to order",
        "Add item",
        "Add the item",
        f.AddItemForm,
        lambda order, data: cmd.AddOrderItem(
            order_id=order.order_id, item=item_of(data), expected_version=_seen(data)
        ),
        "now has the item",
    ),
    "remove-item": OrderCommand(
        "Remove an item from order",
        "Remove item",
        "Remove the item",
        f.RemoveItemForm,
        lambda order, data: cmd.RemoveOrderItem(
            order_id=order.order_id, product_id=data["product_id"], expected_version=_seen(data)
        ),
        "no longer has the item",
    ),
    "address": OrderCommand(
        "Change the shipping address of order",
        "Change address",
        "Change the address",
        f.ChangeAddressForm,
        lambda order, data: cmd.ChangeShippingAddress(
            order_id=order.order_id, shipping_address=address_of(data), expected_version=_seen(data)
        ),
        "has a new shipping address",
        initial=lambda order: dict(order.shipping_address),
    ),
    "ship": OrderCommand(
        "Ship order",
        "Ship",
        "Ship this order",
        f.ShipForm,
        lambda order, data: cmd.ShipOrder(
            order_id=order.order_id,
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
            expected_version=_seen(data),
        ),
        "shipped",
        css="tool-ship",
    ),
    "cancel": OrderCommand(
        "Cancel order",
        "Cancel order",
        "Cancel this order",
        f.CancelForm,
        lambda order, data: cmd.CancelOrder(
            order_id=order.order_id, reason=data["reason"], expected_version=_seen(data)
        ),
        "cancelled",
        back="Keep the order",
        css="tool-cancel",
    ),
}


def create_command(form: f.CreateOrderForm, items: BaseFormSet[Any]) -> cmd.CreateOrder:
    data = form.cleaned_data
    return cmd.CreateOrder(
        customer_id=data["customer_id"],
        currency=data["currency"],
        shipping_address=address_of(data),
        items=tuple(item_of(row) for row in items.cleaned_data if row),
    )


def issue(request: HttpRequest, command: cmd.Command) -> CommandResult | str:
    """Run ``command`` as the staff user: its result, or why it was refused (nothing appended)."""
    try:
        outcome = execute_command(
            command, actor=request.user.get_username(), correlation_id=str(uuid.uuid4())
        )
    except DomainError as exc:
        return refusal(exc)
    return outcome.result


def refusal(exc: DomainError) -> str:
    """A refusal as staff read it."""
    if isinstance(exc, VersionMismatch):
        return (
            f"The order changed while this page was open (it is at version "
            f"{exc.details['actual']}, the page showed version {exc.details['expected']}): "
            "look at it again before you act."
        )
    if isinstance(exc, ConcurrencyConflict):
        return "Someone changed the order at the same moment: look at it again before you act."
    return exc.message


def show_when_applied(request: HttpRequest, position: int) -> bool:
    """Wait (bounded) until the order pages' read model has ``position``; say so if it has not
    (False)."""
    if wait_until_applied(ORDER_PAGES_FEED, position, settings.BACKOFFICE_CONSISTENCY_TIMEOUT):
        return True
    messages.warning(
        request,
        "The change is recorded, but the order pages have not caught up with it yet: "
        "reload in a moment.",
    )
    return False
