"""The read models' fold (projections.read_models.folding) agrees with the Order aggregate."""

from __future__ import annotations

import json
import uuid
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from eventstore.store import RecordedEvent
from orders.domain.errors import DomainError
from orders.domain.handlers import handle
from projections.read_models.folding import OrderState, fold
from tests.orders.fakes import InMemoryOrderRepository
from tests.orders.test_properties import ORDER_ID, SETTINGS, sequences

START = datetime(2026, 1, 1, tzinfo=UTC)


def _recorded(events: list[tuple[str, dict[str, object]]]) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            global_position=n,
            event_id=uuid.uuid4(),
            stream_id=f"Order-{ORDER_ID}",
            stream_type="Order",
            version=n,
            event_type=event_type,
            schema_version=1,
            data=data,
            metadata={},
            recorded_at=START + timedelta(minutes=n),
        )
        for n, (event_type, data) in enumerate(events, start=1)
    ]


@SETTINGS
@given(sequences)
def test_folding_the_stored_events_gives_the_aggregates_state(sequence: list[object]) -> None:
    repo = InMemoryOrderRepository()
    for command in sequence:
        with suppress(DomainError):
            handle(command, repo)  # type: ignore[arg-type]
    if ORDER_ID not in repo.streams:
        return
    live = repo.get(ORDER_ID)
    stored = [
        (e.event_type, json.loads(json.dumps(e.to_payload()))) for e in repo.streams[ORDER_ID]
    ]

    # Folded in one batch, and event by event as a projector meeting them in separate batches.
    whole = fold(_recorded(stored), {})[str(ORDER_ID)]
    states: dict[str, OrderState] = {}
    for event in _recorded(stored):
        fold([event], states)

    for state in (whole, states[str(ORDER_ID)]):
        assert state.status == live.status.value
        assert state.customer_id == live.customer_id
        assert state.currency == live.currency
        assert list(state.lines) == list(live.lines)  # the same line order
        assert {p: (q, price) for p, (q, price) in state.lines.items()} == {
            p: (line.quantity, line.unit_price) for p, line in live.lines.items()
        }
        assert state.total == live.total
        assert state.total.as_tuple().exponent == -2
        assert state.item_count == live.item_count
        assert live.shipping_address is not None
        assert state.shipping_address == live.shipping_address.to_payload()
        assert state.cancel_reason == live.cancel_reason
        assert (state.carrier, state.tracking_number) == (live.carrier, live.tracking_number)
        assert state.version == live.version
        assert state.created_at == START + timedelta(minutes=1)
        assert state.updated_at == START + timedelta(minutes=len(stored))


def test_an_event_for_an_order_never_created_is_refused() -> None:
    [event] = _recorded([("OrderShipped", {"order_id": str(ORDER_ID), "carrier": "UPS"})])
    with pytest.raises(ValueError, match="never seen created"):
        fold([event], {})


def test_removing_an_item_the_order_does_not_have_is_refused() -> None:
    created = {
        "order_id": str(ORDER_ID),
        "customer_id": "c",
        "currency": "EUR",
        "items": [{"product_id": "p1", "quantity": 1, "unit_price": "1.00"}],
        "shipping_address": {"line1": "1", "city": "x", "postal_code": "1", "country": "PT"},
    }
    events = _recorded(
        [
            ("OrderCreated", created),
            ("OrderItemRemoved", {"order_id": str(ORDER_ID), "product_id": "p9"}),
        ]
    )
    with pytest.raises(KeyError):
        fold(events, {})
