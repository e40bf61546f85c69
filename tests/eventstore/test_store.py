"""The event store API on both backends: append, read, follow the log, upcast, export/import."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from eventstore.models import Event
from eventstore.store import (
    ANY,
    EXPORT_FIELDS,
    NO_STREAM,
    Backlog,
    Checkpoint,
    ConcurrencyError,
    DuplicateEventError,
    RecordedEvent,
    append_to_stream,
    backlog,
    checkpoint_at,
    current_version,
    head_position,
    read_all,
    read_stream,
    read_stream_payloads,
)
from eventstore.upcasting import register_upcaster, unregister_upcaster
from tests.eventstore.support import an_event, events, log_settled

pytestmark = pytest.mark.django_db

# Tests that follow the log with read_all use ``transactional_db``: on PostgreSQL read_all only
# returns events of transactions older than every running one, and with ``db`` the test's own
# (never committed) transaction wrote them. They read through ``read_log``, which first waits
# for transactions elsewhere on the server (other test runs) that would hold the log back.


def stored_rows(stream_id: str | None = None) -> list[dict[str, Any]]:
    rows = Event.objects.order_by("global_position")
    if stream_id is not None:
        rows = rows.filter(stream_id=stream_id)
    return list(rows.values(*EXPORT_FIELDS))


LOG_START = Checkpoint()


def read_log(after: Checkpoint = LOG_START, *, limit: int = 500) -> list[RecordedEvent]:
    log_settled()
    return read_all(after, limit=limit)


def follow(after: Checkpoint = LOG_START, *, limit: int = 500) -> list[RecordedEvent]:
    """Read the whole log from ``after`` page by page, as a projector does."""
    log_settled()
    seen: list[RecordedEvent] = []
    while page := read_all(after, limit=limit):
        seen.extend(page)
        after = page[-1].checkpoint
    return seen


# --- appending -----------------------------------------------------------------------------


def test_no_stream_on_a_new_stream_numbers_the_events_from_one() -> None:
    result = append_to_stream("order-1", "Order", events(3), expected_version=NO_STREAM)

    assert result.stream_id == "order-1"
    assert result.version == 3
    assert [e.version for e in read_stream("order-1")] == [1, 2, 3]
    assert current_version("order-1") == 3


def test_no_stream_on_an_existing_stream_raises_concurrency_error_and_stores_nothing() -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)

    with pytest.raises(ConcurrencyError) as info, transaction.atomic():
        append_to_stream("order-1", "Order", events(1), expected_version=NO_STREAM)

    assert info.value.stream_id == "order-1"
    assert info.value.expected == NO_STREAM
    assert info.value.actual == 2
    assert "expected version no_stream" in str(info.value)
    assert "actual version 2" in str(info.value)
    assert current_version("order-1") == 2


def test_the_right_expected_version_continues_the_stream() -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)

    result = append_to_stream("order-1", "Order", events(2), expected_version=2)

    assert result.version == 4
    assert [e.version for e in read_stream("order-1")] == [1, 2, 3, 4]


@pytest.mark.parametrize("wrong", [0, 1, 3, 7])
def test_a_wrong_expected_version_raises_concurrency_error_naming_expected_and_actual(
    wrong: int,
) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)

    with pytest.raises(ConcurrencyError) as info, transaction.atomic():
        append_to_stream("order-1", "Order", events(1), expected_version=wrong)

    assert (info.value.expected, info.value.actual) == (wrong, 2)
    assert f"expected version {wrong}" in str(info.value)
    assert "actual version 2" in str(info.value)
    assert "'order-1'" in str(info.value)
    assert [e.version for e in read_stream("order-1")] == [1, 2]


def test_an_exact_expected_version_on_a_missing_stream_raises_concurrency_error() -> None:
    with pytest.raises(ConcurrencyError) as info, transaction.atomic():
        append_to_stream("order-1", "Order", events(1), expected_version=4)

    assert (info.value.expected, info.value.actual) == (4, 0)
    assert read_stream("order-1") == []


def test_any_expected_version_appends_to_new_and_existing_streams() -> None:
    first = append_to_stream("order-1", "Order", events(2), expected_version=ANY)
    second = append_to_stream("order-1", "Order", events(1), expected_version=ANY)

    assert (first.version, second.version) == (2, 3)
    assert [e.version for e in read_stream("order-1")] == [1, 2, 3]


def test_append_returns_the_stored_positions_in_version_order() -> None:
    first = append_to_stream("order-1", "Order", events(3), expected_version=NO_STREAM)
    other = append_to_stream("order-2", "Order", events(2), expected_version=NO_STREAM)
    second = append_to_stream("order-1", "Order", events(2), expected_version=3)

    stored = {(r["stream_id"], r["version"]): r["global_position"] for r in stored_rows()}
    assert first.positions == tuple(stored["order-1", v] for v in (1, 2, 3))
    assert other.positions == tuple(stored["order-2", v] for v in (1, 2))
    assert second.positions == tuple(stored["order-1", v] for v in (4, 5))
    assert list(first.positions) == sorted(first.positions)
    assert first.last_position < other.positions[0] < other.last_position < second.positions[0]
    assert second.last_position == head_position()


def test_append_stores_every_field_of_the_new_events() -> None:
    event = an_event("ItemAdded", sku="ABC-1", quantity=2, label="Crème brûlée ☕")
    before = timezone.now()

    append_to_stream("order-1", "Order", [event], expected_version=NO_STREAM)

    [recorded] = read_stream("order-1")
    assert recorded.event_id == event.event_id
    assert (recorded.stream_id, recorded.stream_type) == ("order-1", "Order")
    assert (recorded.event_type, recorded.schema_version) == ("ItemAdded", 1)
    assert recorded.data == {"sku": "ABC-1", "quantity": 2, "label": "Crème brûlée ☕"}
    assert recorded.metadata == dict(event.metadata)
    assert before <= recorded.recorded_at <= timezone.now()


def test_a_duplicate_event_id_is_rejected_and_nothing_of_its_batch_is_stored() -> None:
    original = an_event()
    append_to_stream("order-1", "Order", [original], expected_version=NO_STREAM)
    reused = dataclasses.replace(an_event(), event_id=original.event_id)

    with pytest.raises(DuplicateEventError) as info, transaction.atomic():
        append_to_stream("order-2", "Order", [an_event(), reused], expected_version=NO_STREAM)

    assert str(original.event_id) in str(info.value)
    assert read_stream("order-2") == []
    assert Event.objects.count() == 1


def test_a_duplicate_event_id_within_one_batch_is_rejected() -> None:
    event = an_event()

    with pytest.raises(DuplicateEventError), transaction.atomic():
        append_to_stream("order-1", "Order", [event, event], expected_version=NO_STREAM)

    assert not Event.objects.exists()


@pytest.mark.parametrize("expected", [-1, "latest", True, 1.0])
def test_append_refuses_an_invalid_expected_version(expected: Any) -> None:
    with pytest.raises(ValueError, match="expected_version"):
        append_to_stream("order-1", "Order", events(1), expected_version=expected)


@pytest.mark.parametrize("stream_id", ["", "x" * 256])
def test_append_refuses_an_empty_or_overlong_stream_id(stream_id: str) -> None:
    with pytest.raises(ValueError, match="stream_id"):
        append_to_stream(stream_id, "Order", events(1), expected_version=NO_STREAM)


def test_append_refuses_an_empty_batch() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        append_to_stream("order-1", "Order", [], expected_version=NO_STREAM)


def test_append_joins_the_callers_transaction_so_a_rollback_undoes_it() -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
        assert current_version("order-1") == 2
        raise Abort

    assert current_version("order-1") == 0


def test_a_refused_append_in_a_callers_transaction_reports_actual_and_dooms_it() -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)

    with transaction.atomic():
        with pytest.raises(ConcurrencyError) as refused:
            append_to_stream("order-1", "Order", events(1), expected_version=1)
        assert refused.value.actual == 2  # read in the caller's transaction, still usable
        # As a nested atomic block would: Django rolls the caller's transaction back.
        assert transaction.get_rollback()

    assert current_version("order-1") == 2


# --- reading a stream ----------------------------------------------------------------------


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    fixed = FixedClock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", fixed)
    return fixed


def test_read_stream_returns_only_that_stream_in_version_order() -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    append_to_stream("order-2", "Order", events(1), expected_version=NO_STREAM)
    append_to_stream("order-1", "Order", events(1), expected_version=2)

    recorded = read_stream("order-1")

    assert [(e.stream_id, e.version) for e in recorded] == [("order-1", v) for v in (1, 2, 3)]
    assert [e.data["n"] for e in recorded] == [1, 2, 1]
    assert read_stream("no-such-stream") == []


def test_read_stream_with_to_version_stops_at_that_version() -> None:
    append_to_stream("order-1", "Order", events(5), expected_version=NO_STREAM)

    assert [e.version for e in read_stream("order-1", to_version=3)] == [1, 2, 3]
    assert [e.version for e in read_stream("order-1", to_version=9)] == [1, 2, 3, 4, 5]
    assert read_stream("order-1", to_version=0) == []


@pytest.mark.parametrize("metadata", [True, False])
def test_read_stream_with_also_gives_that_earlier_event_first(metadata: bool) -> None:
    append_to_stream("order-1", "Order", events(6), expected_version=NO_STREAM)
    whole = {e.version: e for e in read_stream("order-1", metadata=metadata)}

    read = read_stream("order-1", from_version=4, also=2, metadata=metadata)

    assert read == [whole[2], whole[4], whole[5], whole[6]]
    assert [e.version for e in read_stream("order-1", from_version=7, also=1)] == [1]
    assert [e.version for e in read_stream("order-1", from_version=3, to_version=3, also=1)] == [
        1,
        3,
    ]
    with pytest.raises(ValueError, match="below from_version"):
        read_stream("order-1", from_version=3, also=3)


def test_read_stream_payloads_gives_the_types_and_payloads_of_a_range_of_versions() -> None:
    append_to_stream("order-1", "Order", events(5), expected_version=NO_STREAM)

    whole = read_stream("order-1")
    assert read_stream_payloads("order-1") == [(e.event_type, e.data) for e in whole]
    assert [d["n"] for _t, d in read_stream_payloads("order-1", from_version=2, to_version=3)] == [
        2,
        3,
    ]
    assert read_stream_payloads("no-such-stream") == []


def test_read_stream_reads_a_range_of_versions_and_may_leave_metadata_unread() -> None:
    append_to_stream("order-1", "Order", events(5), expected_version=NO_STREAM)

    assert [e.version for e in read_stream("order-1", from_version=2, to_version=4)] == [2, 3, 4]
    assert [e.version for e in read_stream("order-1", from_version=4)] == [4, 5]
    assert read_stream("order-1", from_version=6) == []
    whole = read_stream("order-1", from_version=3, to_version=3)
    bare = read_stream("order-1", from_version=3, to_version=3, metadata=False)
    assert whole[0].metadata != {}
    assert (bare[0].metadata, bare[0].data, bare[0].event_id) == (
        {},
        whole[0].data,
        whole[0].event_id,
    )


def test_read_stream_with_until_stops_at_events_recorded_after_that_time(
    clock: FixedClock,
) -> None:
    start = clock.now
    for minutes in (0, 5, 10):
        clock.now = start + timedelta(minutes=minutes)
        append_to_stream("order-1", "Order", events(1), expected_version=ANY)

    def versions(until: datetime) -> list[int]:
        return [e.version for e in read_stream("order-1", until=until)]

    assert versions(start - timedelta(seconds=1)) == []
    assert versions(start) == [1]
    assert versions(start + timedelta(minutes=5)) == [1, 2]
    assert versions(start + timedelta(minutes=9)) == [1, 2]
    assert versions(start + timedelta(minutes=10)) == [1, 2, 3]
    assert [
        e.version for e in read_stream("order-1", to_version=1, until=start + timedelta(hours=1))
    ] == [1]


# --- following the log ---------------------------------------------------------------------


def test_read_all_pages_through_the_log_by_checkpoint_never_repeating_or_skipping(
    transactional_db: None,
) -> None:
    appended: list[int] = []
    for n in range(5):
        appended += append_to_stream(
            f"order-{n}", "Order", events(3), expected_version=NO_STREAM
        ).positions
    appended += append_to_stream("order-0", "Order", events(2), expected_version=3).positions

    pages: list[list[RecordedEvent]] = []
    after = Checkpoint()
    log_settled()
    while page := read_all(after, limit=4):
        pages.append(page)
        after = page[-1].checkpoint

    seen = [e for page in pages for e in page]
    assert [e.global_position for e in seen] == appended
    assert [len(p) for p in pages] == [4, 4, 4, 4, 1]
    checkpoints = [e.checkpoint for e in seen]
    assert checkpoints == sorted(checkpoints)
    assert len(set(checkpoints)) == len(checkpoints)
    assert read_all(after) == []


def test_read_all_from_a_checkpoint_returns_only_what_was_appended_after_it(
    transactional_db: None,
) -> None:
    append_to_stream("order-1", "Order", events(3), expected_version=NO_STREAM)
    caught_up = follow()[-1].checkpoint

    later = append_to_stream("order-2", "Order", events(2), expected_version=NO_STREAM)
    more = append_to_stream("order-1", "Order", events(1), expected_version=3)

    assert [e.global_position for e in follow(caught_up)] == [*later.positions, *more.positions]


def test_read_all_returns_the_same_events_as_read_stream(transactional_db: None) -> None:
    append_to_stream(
        "order-1", "Order", [an_event("OrderPlaced", total="12.50")], expected_version=NO_STREAM
    )
    append_to_stream("order-1", "Order", events(2, "ItemAdded"), expected_version=1)

    from_log = read_log()

    assert from_log == read_stream("order-1")
    assert all(e.recorded_at.tzinfo is not None for e in from_log)


def test_read_all_without_metadata_leaves_only_the_metadata_out(transactional_db: None) -> None:
    append_to_stream(
        "order-1",
        "Order",
        [an_event("OrderPlaced", total="1.00")],
        expected_version=NO_STREAM,
    )

    [full] = read_all()
    [lean] = read_all(metadata=False)

    assert full.metadata["correlation_id"]
    assert lean.metadata == {}
    assert dataclasses.replace(lean, metadata=full.metadata) == full


def test_payloads_with_integers_beyond_64_bits_are_read_back_exactly(
    transactional_db: None,
) -> None:
    huge = 2**70 + 1  # orjson refuses these; the log must still be readable
    append_to_stream(
        "order-1", "Order", [an_event("Imported", legacy_id=huge)], expected_version=NO_STREAM
    )

    assert read_all()[0].data == {"legacy_id": huge}
    assert read_stream("order-1")[0].data == {"legacy_id": huge}


def test_read_all_of_an_empty_log_is_empty(transactional_db: None) -> None:
    assert read_all() == []
    assert read_all(Checkpoint(0, 10)) == []


def test_head_position_is_zero_on_an_empty_log_and_the_last_position_after_appends() -> None:
    assert head_position() == 0

    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    last = append_to_stream("order-2", "Order", events(3), expected_version=NO_STREAM)

    assert head_position() == last.last_position


def test_checkpoint_of_an_event_is_the_checkpoint_read_all_gives_it(transactional_db: None) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    append_to_stream("order-2", "Order", events(2), expected_version=NO_STREAM)

    for event in read_log():
        assert checkpoint_at(event.global_position) == event.checkpoint

    assert checkpoint_at(head_position() + 1) is None
    assert checkpoint_at(0) is None


def test_checkpoint_of_an_event_lets_a_follower_resume_just_after_it(
    transactional_db: None,
) -> None:
    positions = append_to_stream(
        "order-1", "Order", events(4), expected_version=NO_STREAM
    ).positions

    resume = checkpoint_at(positions[1])

    assert resume is not None
    assert [e.global_position for e in read_log(resume)] == list(positions[2:])


def test_backlog_counts_the_events_after_a_checkpoint_and_dates_the_oldest(
    transactional_db: None, clock: FixedClock
) -> None:
    start = clock.now
    for minutes in range(4):
        clock.now = start + timedelta(minutes=minutes)
        append_to_stream(f"order-{minutes}", "Order", events(2), expected_version=NO_STREAM)
    log = read_log()

    assert backlog(Checkpoint()) == Backlog(8, start)
    assert backlog(log[2].checkpoint) == Backlog(5, start + timedelta(minutes=1))
    assert backlog(log[-1].checkpoint) == Backlog(0, None)


def test_backlog_of_an_empty_log_is_zero() -> None:
    assert backlog(Checkpoint()) == Backlog(0, None)


# --- upcasting -----------------------------------------------------------------------------

PARCEL_WEIGHED = "TestParcelWeighed"


@pytest.fixture
def parcel_upcasters() -> Iterator[None]:
    """v1 {"grams": g} → v2 {"weight": {"grams": g}} → v3 {"weight": {"value": kg, "unit"}}."""

    @register_upcaster(PARCEL_WEIGHED, 1)
    def nest_weight(data: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: v for k, v in data.items() if k != "grams"},
            "weight": {"grams": data["grams"]},
        }

    @register_upcaster(PARCEL_WEIGHED, 2)
    def weight_in_kg(data: dict[str, Any]) -> dict[str, Any]:
        grams = data["weight"]["grams"]
        return {**data, "weight": {"value": grams / 1000, "unit": "kg"}}

    yield
    unregister_upcaster(PARCEL_WEIGHED, 1)
    unregister_upcaster(PARCEL_WEIGHED, 2)


def test_read_stream_upcasts_an_old_payload_while_the_stored_row_keeps_the_original(
    parcel_upcasters: None,
) -> None:
    append_to_stream(
        "parcel-1",
        "Parcel",
        [an_event(PARCEL_WEIGHED, grams=1250, parcel="P-1")],
        expected_version=NO_STREAM,
    )

    [recorded] = read_stream("parcel-1")

    assert recorded.schema_version == 3
    assert recorded.data == {"parcel": "P-1", "weight": {"value": 1.25, "unit": "kg"}}
    assert read_stream_payloads("parcel-1") == [(PARCEL_WEIGHED, recorded.data)]
    row = Event.objects.get(stream_id="parcel-1")
    assert row.schema_version == 1
    assert row.data == {"grams": 1250, "parcel": "P-1"}


def test_read_all_upcasts_old_payloads_and_leaves_current_ones_alone(
    transactional_db: None, parcel_upcasters: None
) -> None:
    old = an_event(PARCEL_WEIGHED, grams=500)
    current = dataclasses.replace(
        an_event(PARCEL_WEIGHED), data={"weight": {"value": 2.0, "unit": "kg"}}, schema_version=3
    )
    append_to_stream("parcel-1", "Parcel", [old, current], expected_version=NO_STREAM)

    [first, second] = read_log()

    assert (first.schema_version, first.data) == (3, {"weight": {"value": 0.5, "unit": "kg"}})
    assert (second.schema_version, second.data) == (3, {"weight": {"value": 2.0, "unit": "kg"}})
    assert [r["schema_version"] for r in stored_rows("parcel-1")] == [1, 3]


def test_events_of_other_types_are_not_upcast(parcel_upcasters: None) -> None:
    append_to_stream(
        "order-1", "Order", [an_event("ThingHappened", grams=3)], expected_version=NO_STREAM
    )

    [recorded] = read_stream("order-1")

    assert (recorded.schema_version, recorded.data) == (1, {"grams": 3})


def test_registering_a_second_upcaster_for_the_same_version_is_refused(
    parcel_upcasters: None,
) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_upcaster(PARCEL_WEIGHED, 1)(lambda data: data)


# --- export and import ---------------------------------------------------------------------


def export_to(path: Path, **options: Any) -> str:
    stderr = io.StringIO()
    call_command("eventstore_export", output=str(path), stderr=stderr, **options)
    return stderr.getvalue()


def test_export_then_import_into_an_empty_store_restores_every_field(
    transactional_db: None, tmp_path: Path, parcel_upcasters: None
) -> None:
    append_to_stream("order-1", "Order", events(3), expected_version=NO_STREAM)
    taken = read_stream("order-1")[0].event_id
    with pytest.raises(DuplicateEventError):  # leaves a hole in the positions on PostgreSQL
        append_to_stream(
            "order-9",
            "Order",
            [dataclasses.replace(an_event(), event_id=taken)],
            expected_version=NO_STREAM,
        )
    append_to_stream(
        "parcel-1",
        "Parcel",
        [an_event(PARCEL_WEIGHED, grams=10, note="naïve ☃")],
        expected_version=NO_STREAM,
    )
    append_to_stream("order-1", "Order", events(2), expected_version=3)
    rows_before = stored_rows()
    log_before = follow()
    path = tmp_path / "log.jsonl"

    assert "Exported 6 events" in export_to(path, as_stored=True)  # a backup, byte for byte
    call_command("flush", interactive=False)
    assert not Event.objects.exists()
    stderr = io.StringIO()
    call_command("eventstore_import", str(path), stderr=stderr)

    assert "Imported 6 events" in stderr.getvalue()
    assert stored_rows() == rows_before
    assert [r["schema_version"] for r in stored_rows("parcel-1")] == [1]
    log_after = follow()
    assert [dataclasses.replace(e, tx_id=0) for e in log_after] == [
        dataclasses.replace(e, tx_id=0) for e in log_before
    ]
    after_import = append_to_stream("order-2", "Order", events(1), expected_version=NO_STREAM)
    assert after_import.positions[0] > rows_before[-1]["global_position"]
    [new_event] = follow(log_after[-1].checkpoint)
    assert new_event.global_position == after_import.positions[0]


@pytest.mark.parametrize(
    ("options", "schema_version", "data"),
    [
        ({}, 3, {"weight": {"value": 0.007, "unit": "kg"}}),  # as every read gives it
        ({"as_stored": True}, 1, {"grams": 7}),
    ],
)
def test_export_of_one_stream_writes_only_that_stream_upcast_or_as_stored(
    tmp_path: Path,
    parcel_upcasters: None,
    options: dict[str, Any],
    schema_version: int,
    data: dict[str, Any],
) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    append_to_stream(
        "parcel-1", "Parcel", [an_event(PARCEL_WEIGHED, grams=7)], expected_version=NO_STREAM
    )
    path = tmp_path / "parcel.jsonl"

    export_to(path, stream="parcel-1", **options)

    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert set(record) == set(EXPORT_FIELDS)
    assert (record["stream_id"], record["schema_version"], record["data"]) == (
        "parcel-1",
        schema_version,
        data,
    )
    assert uuid.UUID(record["event_id"]) == Event.objects.get(stream_id="parcel-1").event_id


def test_import_into_a_non_empty_store_fails_with_command_error_and_adds_nothing(
    tmp_path: Path,
) -> None:
    append_to_stream("order-1", "Order", events(2), expected_version=NO_STREAM)
    path = tmp_path / "log.jsonl"
    export_to(path)
    before = stored_rows()

    with pytest.raises(CommandError, match="not empty"):
        call_command("eventstore_import", str(path))

    assert stored_rows() == before


def test_import_refuses_a_line_with_missing_fields(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(
        json.dumps({"global_position": 1, "stream_id": "order-1"}) + "\n", encoding="utf-8"
    )

    with pytest.raises(CommandError, match="Line 1: missing"):
        call_command("eventstore_import", str(path))

    assert not Event.objects.exists()
