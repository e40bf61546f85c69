"""The event store module's own decisions, apart from the database's: argument checks, the retry
on a lost race, the errors it raises, the metric it counts, and the defaults of its readers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, transaction

from common.metrics import EVENTS_APPENDED
from eventstore import store
from eventstore.backends import backend
from eventstore.models import Event
from eventstore.store import (
    ANY,
    NO_STREAM,
    AppendResult,
    Checkpoint,
    ConcurrencyError,
    DuplicateEventError,
    NewEvent,
    append_to_stream,
    current_version,
    export_records,
    head_position,
    import_records,
    read_all,
    read_stream,
    reset_position_sequence,
)
from tests.eventstore.support import an_event, events, log_settled

pytestmark = pytest.mark.django_db


# --- arguments -----------------------------------------------------------------------------
def test_expected_version_zero_is_a_new_stream_and_conflicts_with_an_existing_one() -> None:
    result = append_to_stream("order-1", "Order", events(1), expected_version=0)

    assert result.version == 1
    with pytest.raises(ConcurrencyError) as refused:
        append_to_stream("order-1", "Order", events(1), expected_version=0)
    assert (refused.value.expected, refused.value.actual) == (0, 1)


@pytest.mark.parametrize("expected", [-1, True, "latest"])
def test_an_invalid_expected_version_is_named_in_the_error(expected: Any) -> None:
    with pytest.raises(ValueError) as refused:
        append_to_stream("order-1", "Order", events(1), expected_version=expected)

    assert str(refused.value) == (
        f"expected_version must be 'any', 'no_stream' or an int >= 0, not {expected!r}"
    )


def test_a_stream_id_of_255_characters_is_accepted_and_256_refused_with_the_rule() -> None:
    longest = "x" * 255

    assert append_to_stream(longest, "Order", events(1), expected_version=NO_STREAM).version == 1
    with pytest.raises(ValueError) as refused:
        append_to_stream(longest + "x", "Order", events(1), expected_version=NO_STREAM)
    assert str(refused.value) == "stream_id must be 1..255 characters"


def test_an_empty_batch_is_refused_with_the_rule() -> None:
    with pytest.raises(ValueError) as refused:
        append_to_stream("order-1", "Order", [], expected_version=ANY)

    assert str(refused.value) == "append_to_stream needs at least one event"


# --- lost races and other database errors (a backend that fails as told) -------------------
# Outside a caller's transaction (``transactional_db``) append_to_stream owns the transaction
# and retries; inside one (``db``) it cannot.
class RacingBackend:
    """The real backend, but each append first loses ``races`` races for the stream's version
    (or fails with ``error`` when one is given)."""

    def __init__(self, races: int = 0, error: DatabaseError | None = None) -> None:
        self.real = backend()
        self.races = races
        self.error = error
        self.attempts = 0

    def append(self, *args: Any, **kwargs: Any) -> AppendResult:
        self.attempts += 1
        if self.error is not None:
            raise self.error
        if self.attempts <= self.races:
            raise IntegrityError("lost the race for the stream's version")
        return self.real.append(*args, **kwargs)

    @property
    def appends_in_one_statement(self) -> bool:
        return self.real.appends_in_one_statement

    def is_version_conflict(self, exc: DatabaseError) -> bool:
        return "lost the race" in str(exc)

    def is_duplicate_event(self, exc: DatabaseError) -> bool:
        return self.real.is_duplicate_event(exc)

    def current_version(self, stream_id: str) -> int:
        return self.real.current_version(stream_id)


@pytest.fixture
def racing(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(**kwargs: Any) -> RacingBackend:
        fake = RacingBackend(**kwargs)
        monkeypatch.setattr(store, "backend", lambda: fake)
        return fake

    return install


def test_an_append_expecting_any_version_retries_a_lost_race_up_to_three_times(
    racing: Any, transactional_db: None
) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    fake = racing(races=2)

    result = append_to_stream("order-1", "Order", events(1), expected_version=ANY)

    assert fake.attempts == 3
    assert result.version == 3
    assert current_version("order-1") == 3


def test_an_append_expecting_any_version_that_loses_three_races_is_a_concurrency_error(
    racing: Any,
    transactional_db: None,
) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    fake = racing(races=3)

    with pytest.raises(ConcurrencyError) as refused:
        append_to_stream("order-1", "Order", events(1), expected_version=ANY)

    assert fake.attempts == 3
    assert (refused.value.stream_id, refused.value.expected, refused.value.actual) == (
        "order-1",
        ANY,
        2,
    )
    assert isinstance(refused.value.__cause__, IntegrityError)
    assert current_version("order-1") == 2


def test_an_append_expecting_an_exact_version_does_not_retry_a_lost_race(
    racing: Any, transactional_db: None
) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    fake = racing(races=1)

    with pytest.raises(ConcurrencyError) as refused:
        append_to_stream("order-1", "Order", events(1), expected_version=2)

    assert fake.attempts == 1
    assert (refused.value.expected, refused.value.actual) == (2, 2)


def test_an_append_in_its_own_transaction_expecting_a_wrong_version_stores_nothing(
    transactional_db: None,
) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)

    with pytest.raises(ConcurrencyError) as refused:
        append_to_stream("order-1", "Order", events(1), expected_version=1)

    assert (refused.value.stream_id, refused.value.expected, refused.value.actual) == (
        "order-1",
        1,
        2,
    )
    assert current_version("order-1") == 2


def test_a_database_error_that_is_no_lost_race_is_raised_as_it_is_without_retry(
    racing: Any,
    transactional_db: None,
) -> None:
    failure = DatabaseError("disk full")
    fake = racing(error=failure)

    with pytest.raises(DatabaseError) as raised:
        append_to_stream("order-1", "Order", events(1), expected_version=ANY)

    assert raised.value is failure
    assert fake.attempts == 1


def test_an_integrity_error_not_about_event_ids_is_raised_as_it_is(racing: Any) -> None:
    failure = IntegrityError("null value in column stream_type")
    racing(error=failure)

    with pytest.raises(IntegrityError) as raised:
        append_to_stream("order-1", "Order", events(1), expected_version=NO_STREAM)

    assert raised.value is failure


def test_a_lost_race_in_the_callers_transaction_is_a_concurrency_error_and_dooms_it(
    racing: Any,
) -> None:
    fake = racing(races=1)

    with transaction.atomic():
        with pytest.raises(ConcurrencyError) as refused:
            append_to_stream("order-1", "Order", events(1), expected_version=ANY)
        assert transaction.get_rollback()

    assert fake.attempts == 1
    assert (refused.value.stream_id, refused.value.expected, refused.value.actual) == (
        "order-1",
        ANY,
        None,
    )


def test_any_failure_in_the_callers_transaction_dooms_it_and_is_raised_as_it_is(
    racing: Any,
) -> None:
    failure = DatabaseError("connection lost")
    racing(error=failure)

    with transaction.atomic():
        with pytest.raises(DatabaseError) as raised:
            append_to_stream("order-1", "Order", events(1), expected_version=NO_STREAM)
        assert transaction.get_rollback()

    assert raised.value is failure


def test_a_duplicate_event_id_error_lists_every_id_of_the_batch() -> None:
    original = an_event()
    append_to_stream("order-1", "Order", [original], expected_version=NO_STREAM)
    batch = [an_event(), dataclasses.replace(an_event(), event_id=original.event_id)]

    with pytest.raises(DuplicateEventError) as refused, transaction.atomic():
        append_to_stream("order-2", "Order", batch, expected_version=NO_STREAM)

    ids = ", ".join(str(e.event_id) for e in batch)
    assert str(refused.value) == f"An event with one of these ids is already stored: {ids}"
    assert isinstance(refused.value.__cause__, IntegrityError)


# --- the appended-events metric ------------------------------------------------------------
def _appended(stream_type: str) -> float:
    return EVENTS_APPENDED.labels(stream_type)._value.get()  # type: ignore[no-any-return]


def test_appended_events_are_counted_by_stream_type_when_they_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    before, other = _appended("Parcel"), _appended("Order")

    with django_capture_on_commit_callbacks(execute=True):
        append_to_stream("parcel-1", "Parcel", events(3), expected_version=NO_STREAM)
        with transaction.atomic():
            append_to_stream("parcel-2", "Parcel", events(2), expected_version=NO_STREAM)

    assert _appended("Parcel") == before + 5
    assert _appended("Order") == other


def test_an_append_in_its_own_transaction_is_counted_once_it_commits(
    transactional_db: None,
) -> None:
    before, other = _appended("Parcel"), _appended("Order")

    append_to_stream("parcel-1", "Parcel", events(2), expected_version=NO_STREAM)

    assert _appended("Parcel") == before + 2
    assert _appended("Order") == other


def test_appended_events_of_a_rolled_back_transaction_are_not_counted(
    django_capture_on_commit_callbacks: Any,
) -> None:
    class Abort(Exception):
        pass

    before = _appended("Parcel")

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Abort),
        transaction.atomic(),
    ):
        append_to_stream("parcel-1", "Parcel", events(3), expected_version=NO_STREAM)
        raise Abort

    assert _appended("Parcel") == before


# --- readers' defaults ---------------------------------------------------------------------
def test_read_all_by_default_starts_at_the_log_start_with_500_events_and_their_metadata(
    transactional_db: None,
) -> None:
    append_to_stream("order-1", "Order", events(501), expected_version=NO_STREAM)
    log_settled()

    page = read_all()

    assert len(page) == 500
    assert [e.version for e in page] == list(range(1, 501))
    assert page[0].metadata["actor"] == "tests"
    assert read_all(page[-1].checkpoint)[0].version == 501
    assert read_all(Checkpoint(), limit=2, metadata=False)[0].metadata == {}


def test_read_stream_passes_its_bounds_on() -> None:
    append_to_stream("order-1", "Order", events(3), expected_version=NO_STREAM)
    recorded = read_stream("order-1")[0].recorded_at

    assert [e.version for e in read_stream("order-1", to_version=2)] == [1, 2]
    assert [e.version for e in read_stream("order-1", until=recorded)] == [1, 2, 3]
    assert read_stream("order-1", until=datetime(2000, 1, 1, tzinfo=recorded.tzinfo)) == []


# --- export and import ---------------------------------------------------------------------
def test_export_records_gives_plain_values_in_position_order_for_all_or_one_stream() -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    append_to_stream("order-2", "Order", events(1), expected_version=NO_STREAM)
    stored = list(Event.objects.order_by("global_position"))

    exported = list(export_records(chunk_size=1))

    assert [r["global_position"] for r in exported] == [e.global_position for e in stored]
    assert exported[0]["event_id"] == str(stored[0].event_id)
    assert exported[0]["recorded_at"] == stored[0].recorded_at.isoformat()
    assert [r["stream_id"] for r in export_records("order-2")] == ["order-2"]


def test_import_records_keeps_every_field_and_counts_the_rows(transactional_db: None) -> None:
    old_schema = dataclasses.replace(an_event(), schema_version=2)
    append_to_stream("order-1", "Order", [an_event(), old_schema], expected_version=NO_STREAM)
    exported = list(export_records())
    call_command("flush", interactive=False)  # the log is append-only: only a flush empties it
    shifted: Sequence[dict[str, Any]] = [
        {**r, "global_position": r["global_position"] + 100} for r in exported
    ]

    assert import_records(shifted) == 2
    reset_position_sequence()

    assert [r["global_position"] for r in export_records()] == [
        r["global_position"] for r in shifted
    ]
    assert [{k: v for k, v in r.items() if k != "global_position"} for r in export_records()] == [
        {k: v for k, v in r.items() if k != "global_position"} for r in exported
    ]
    after = append_to_stream(
        "order-2", "Order", [NewEvent("ThingHappened", {})], expected_version=ANY
    )
    assert after.positions[0] > shifted[-1]["global_position"]
    assert head_position() == after.positions[0]
