"""Staff commands on orders: what each asks for, run as the staff user through the command
service the API uses, and the wait until the order pages' read model has the result.

The staff user is the actor in the events' metadata; a business rule's refusal (a DomainError)
becomes an error message and appends nothing; the page shown afterwards waits until the read
model has the command's position (read-your-writes), or says it has not caught up yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest

from backoffice.forms import AddressForm, CancelForm, ShipForm
from orders.domain import commands as cmd
from orders.domain.errors import DomainError
from orders.domain.handlers import CommandResult
from orders.domain.values import Address
from orders.services import execute_command
from projections.engine.consistency import wait_until_applied
from projections.read_models.models import OrderView

# The projections the order pages read: a command's result is shown once these have it.
ORDER_PAGES_FEED: Final = ("order_views",)


@dataclass(frozen=True)
class OrderCommand:
    title: str
    form: type[forms.Form]
    command: Callable[[uuid.UUID, dict[str, Any]], cmd.Command]
    done: str
    initial: Callable[[OrderView], dict[str, Any]] = lambda order: {}


COMMANDS: Final = {
    "ship": OrderCommand(
        "Ship order",
        ShipForm,
        lambda order_id, data: cmd.ShipOrder(order_id=order_id, **data),
        "shipped",
    ),
    "cancel": OrderCommand(
        "Cancel order",
        CancelForm,
        lambda order_id, data: cmd.CancelOrder(order_id=order_id, reason=data["reason"]),
        "cancelled",
    ),
    "address": OrderCommand(
        "Change the shipping address of order",
        AddressForm,
        lambda order_id, data: cmd.ChangeShippingAddress(
            order_id=order_id, shipping_address=Address.from_payload(data)
        ),
        "given a new shipping address",
        initial=lambda order: dict(order.shipping_address),
    ),
}


def issue(request: HttpRequest, command: cmd.Command) -> CommandResult | None:
    """Run ``command`` as the staff user; a refusal becomes an error message (None)."""
    try:
        outcome = execute_command(
            command, actor=request.user.get_username(), correlation_id=str(uuid.uuid4())
        )
    except DomainError as exc:
        messages.error(request, f"Order {command.order_id}: {exc.message}")
        return None
    return outcome.result


def show_when_applied(request: HttpRequest, position: int) -> None:
    """Wait (bounded) until the order pages' read model has ``position``; say if it has not."""
    if not wait_until_applied(ORDER_PAGES_FEED, position, settings.BACKOFFICE_CONSISTENCY_TIMEOUT):
        messages.warning(
            request,
            f"The change is recorded (log position {position}), but the order list has not "
            "caught up with it yet: reload in a moment.",
        )
