"""The write service's transaction and idempotency record, on each side of a caller's
transaction: alone on PostgreSQL a keyed command is one statement (no transaction block);
inside a caller's transaction, or on SQLite, it runs in a block of its own."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from eventstore import personal
from eventstore.models import Event
from orders.idempotency import result_body
from orders.models import IdempotencyRecord
from orders.services import CommandOutcome, execute_command
from tests.orders.builders import create_order

pytestmark = pytest.mark.django_db(transaction=True)


def run(key: str, actor: str = "clerk") -> CommandOutcome:
    return execute_command(
        create_order(), actor=actor, correlation_id="c-1", idempotency_key=key, request_hash="h"
    )


def stored_body(key: str) -> dict[str, object]:
    return dict(IdempotencyRecord.objects.get(key=key).response)


@pytest.mark.postgres
@pytest.mark.parametrize("stale_key", [False, True])
def test_a_keyed_command_alone_opens_no_transaction_and_records_its_answer(
    monkeypatch: pytest.MonkeyPatch, stale_key: bool
) -> None:
    def no_block(*args: object, **kwargs: object) -> None:
        raise AssertionError("a transaction block was opened")

    personal.append_keys.drop("cust-1")
    if stale_key:  # kept by this process from a database whose key table no longer has it
        personal.append_keys.put("cust-1", personal.new_key())
    monkeypatch.setattr(transaction, "atomic", no_block)

    first = run("k-1")
    again = run("k-1")

    monkeypatch.undo()
    assert not first.replayed
    assert again == CommandOutcome(first.result, replayed=True)
    assert stored_body("k-1") == result_body(first.result)
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    "key", ["event_id", "eventstore_stream_version", "eventstore_event_event_id_key"]
)
def test_a_key_that_names_an_event_store_constraint_is_replayed_all_the_same(key: str) -> None:
    first = run(key)

    again = run(key)

    assert again == CommandOutcome(first.result, replayed=True)
    assert Event.objects.count() == 1


def test_a_taken_key_inside_a_caller_s_transaction_leaves_that_transaction_usable() -> None:
    first = run("k-1")

    with transaction.atomic():
        again = run("k-1")
        third = run("k-2")  # the caller's transaction goes on after the replay

    assert again == CommandOutcome(first.result, replayed=True)
    assert not third.replayed
    assert Event.objects.count() == 2
    assert stored_body("k-2") == result_body(third.result)


def test_the_answer_recorded_is_the_one_replayed_on_either_path() -> None:
    alone = run("alone")
    with transaction.atomic():
        inside = run("inside")

    for key, outcome in (("alone", alone), ("inside", inside)):
        assert stored_body(key) == result_body(outcome.result)
        assert run(key) == CommandOutcome(outcome.result, replayed=True)
    assert not connection.in_atomic_block
