"""Builders for the projection tests: orders via the command service, raw order events, waits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connection, models, transaction
from django.db.models import JSONField

from eventstore import store
from orders import idempotency
from orders.domain import commands as cmd
from orders.domain import events as ev
from orders.domain.values import Address, LineItem
from orders.services import execute_command
from orders.streams import STREAM_TYPE, stream_id_for
from projections.engine import followers, runner
from projections.engine.generations import active_state
from projections.models import OrderTermCount, ProjectionState
from tests.waiting import wait_until

T = TypeVar("T")

ItemSpec = tuple[str, int, str]  # product_id, quantity, unit_price
READ_MODEL_PROJECTIONS = ("customer_summaries", "daily_sales", "order_views")


def address(city: str = "Springfield", **overrides: str) -> Address:
    fields = {"line1": "1 Main St", "city": city, "postal_code": "12345", "country": "US"}
    fields.update(overrides)
    return Address(**fields)


def line(product_id: str = "sku-1", quantity: int = 1, unit_price: str = "10.00") -> LineItem:
    return LineItem(product_id, quantity, Decimal(unit_price))


# --- commands through the write-side service (each commits and wakes the projections) -------
def run_command(command: cmd.Command, *, actor: str = "tests") -> dict[str, Any]:
    """Run ``command``; returns the body a client would get: order_id, version, position."""
    outcome = execute_command(command, actor=actor, correlation_id=str(uuid.uuid4()))
    return idempotency.result_body(outcome.result)


def place_order(
    *,
    customer_id: str = "cust-1",
    items: Sequence[ItemSpec] = (("sku-1", 1, "10.00"),),
    city: str = "Springfield",
    currency: str = "USD",
) -> dict[str, Any]:
    return run_command(
        cmd.CreateOrder(
            customer_id=customer_id,
            items=tuple(line(*spec) for spec in items),
            shipping_address=address(city),
            currency=currency,
        )
    )


def add_item(order_id: str, product_id: str, quantity: int, unit_price: str) -> dict[str, Any]:
    return run_command(
        cmd.AddOrderItem(order_id=uuid.UUID(order_id), item=line(product_id, quantity, unit_price))
    )


def remove_item(order_id: str, product_id: str) -> dict[str, Any]:
    return run_command(cmd.RemoveOrderItem(order_id=uuid.UUID(order_id), product_id=product_id))


def change_address(order_id: str, city: str) -> dict[str, Any]:
    return run_command(
        cmd.ChangeShippingAddress(order_id=uuid.UUID(order_id), shipping_address=address(city))
    )


def ship(order_id: str, carrier: str = "UPS", tracking_number: str = "1Z999") -> dict[str, Any]:
    return run_command(
        cmd.ShipOrder(
            order_id=uuid.UUID(order_id), carrier=carrier, tracking_number=tracking_number
        )
    )


def cancel(order_id: str, reason: str = "customer changed mind") -> dict[str, Any]:
    return run_command(cmd.CancelOrder(order_id=uuid.UUID(order_id), reason=reason))


# --- raw order events, appended without waking any projection ------------------------------
def item_added(
    order_id: uuid.UUID,
    product_id: str = "sku-1",
    quantity: int = 1,
    unit_price: str = "10.00",
    *,
    on_order: int = 0,
) -> ev.OrderItemAdded:
    """OrderItemAdded (v2) of ``quantity`` units to a line holding ``on_order`` units before:
    the line after holds both, at the new price."""
    return ev.OrderItemAdded(
        order_id=order_id,
        item=line(product_id, quantity, unit_price),
        line=line(product_id, on_order + quantity, unit_price),
    )


def new_events(domain_events: Iterable[ev.DomainEvent]) -> list[store.NewEvent]:
    return [
        store.NewEvent(
            event_type=e.event_type,
            data=e.to_payload(),
            metadata={"actor": "tests", "correlation_id": str(uuid.uuid4())},
            schema_version=e.schema_version,
        )
        for e in domain_events
    ]


def order_created(
    order_id: uuid.UUID,
    *,
    customer_id: str = "cust-1",
    items: Sequence[ItemSpec] = (("sku-1", 1, "10.00"),),
    city: str = "Springfield",
) -> ev.OrderCreated:
    return ev.OrderCreated(
        order_id=order_id,
        customer_id=customer_id,
        currency="USD",
        items=tuple(line(*spec) for spec in items),
        shipping_address=address(city),
    )


def append_order_events(
    order_id: uuid.UUID, events: Sequence[ev.DomainEvent], *, expected_version: Any = store.ANY
) -> store.AppendResult:
    """Append valid order events straight to the log (no command, no wake-up)."""
    return store.append_to_stream(
        stream_id_for(order_id), STREAM_TYPE, new_events(events), expected_version=expected_version
    )


def append_new_order(
    *,
    customer_id: str = "cust-1",
    items: Sequence[ItemSpec] = (("sku-1", 1, "10.00"),),
    city: str = "Springfield",
) -> tuple[uuid.UUID, store.AppendResult]:
    order_id = uuid.uuid4()
    result = append_order_events(
        order_id,
        [order_created(order_id, customer_id=customer_id, items=items, city=city)],
        expected_version=store.NO_STREAM,
    )
    return order_id, result


# --- waiting and comparing ------------------------------------------------------------------
def unapplied(name: str) -> int:
    """How many committed events the projection's active generation has not read yet (all
    of its shards)."""
    states = ProjectionState.objects.filter(name=name, active=True)
    follower = followers.get(name)
    return sum(
        store.backlog(s.checkpoint, shard=followers.log_part(follower, s.shard, s.shards)).events
        for s in states
    )


def caught_up(names: Sequence[str] = READ_MODEL_PROJECTIONS) -> bool:
    return all(unapplied(name) == 0 for name in names)


def catch_up_until_applied(
    names: Sequence[str] = READ_MODEL_PROJECTIONS, *, timeout: float = 60.0
) -> None:
    """Run the projectors until they have applied every committed event.

    On PostgreSQL an event becomes readable only when every older transaction on the server has
    ended (in any database of the cluster), so a single catch-up may find nothing to read yet
    while other sessions are busy.
    """

    def applied_everything() -> bool:
        for name in names:
            for state in ProjectionState.objects.filter(name=name, active=True):
                runner.run(name, shard=state.shard)
        return caught_up(names)

    wait_until(applied_everything, timeout=timeout, interval=0.02, what=f"{names} to catch up")


def _rows(model: type[models.Model], generation: int) -> list[dict[str, Any]]:
    fields = [f for f in model._meta.concrete_fields if f.name not in ("id", "generation")]
    order = [f.name for f in fields if not isinstance(f, JSONField)]
    queryset = model._default_manager.filter(generation=generation)  # type: ignore[misc]
    if model is OrderTermCount:
        # A word no order has any more keeps its row at zero; a rebuild never writes one.
        queryset = queryset.exclude(order_count=0)
    return list(queryset.order_by(*order).values(*(f.name for f in fields)))


def read_tables(names: Sequence[str] = READ_MODEL_PROJECTIONS) -> dict[str, list[dict[str, Any]]]:
    """Every row of the active generation of each projection's tables (ids left out)."""
    snapshot: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        generation = active_state(name).generation
        for model in followers.get(name).tables:
            snapshot[model._meta.db_table] = _rows(model, generation)
    return snapshot


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def delete_log_and_read_models() -> None:
    """Remove what a module-scoped fixture committed: the log, idempotency keys, read models.

    The log is append-only; like the test runner's flush (tests/conftest.py), this opens the
    trigger's escape hatch for its own transaction only.
    """
    from eventstore.models import Event
    from orders.models import IdempotencyRecord
    from projections.models import ProjectionSkip, ProjectionState

    with transaction.atomic():
        if is_postgres():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL eventstore.allow_destructive = 'on'")
        Event.objects.all().delete()
        IdempotencyRecord.objects.all().delete()
        ProjectionSkip.objects.all().delete()
        for name in READ_MODEL_PROJECTIONS:
            for model in followers.get(name).tables:
                model._default_manager.all().delete()
        ProjectionState.objects.all().delete()
