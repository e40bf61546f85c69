"""Shards of the log: every event in exactly one shard, a stream's events all in the same one,
each shard in the log's gap-safe order, read through its index (never the others' events)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from eventstore.store import (
    BUCKETS,
    Checkpoint,
    NewEvent,
    RecordedEvent,
    Shard,
    any_between,
    append_to_stream,
    backlog,
    forget_subject,
    read_all,
    streams_in,
    valid_shard_count,
)
from tests.eventstore.support import events, in_own_connection, log_settled

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


START = Checkpoint()


def follow(shard: Shard, after: Checkpoint = START, limit: int = 5) -> list[RecordedEvent]:
    seen: list[RecordedEvent] = []
    while page := read_all(after, limit=limit, shard=shard):
        seen.extend(page)
        after = page[-1].checkpoint
    return seen


def _fill(streams: int, per_stream: int) -> None:
    for n in range(streams):
        append_to_stream(f"Thing-{n}", "Thing", events(per_stream), expected_version="no_stream")


def test_shard_counts_are_powers_of_two_up_to_the_buckets() -> None:
    assert [n for n in range(40) if valid_shard_count(n)] == [1, 2, 4, 8, 16]
    assert BUCKETS == 16
    with pytest.raises(ValueError, match="power of two"):
        Shard(0, 3)
    with pytest.raises(ValueError, match=r"not in 0\.\.1"):
        Shard(2, 2)
    assert Shard(1, 4).buckets == (1, 5, 9, 13)


def test_each_event_is_in_exactly_one_shard_with_its_whole_stream_in_log_order() -> None:
    _fill(streams=40, per_stream=3)
    log_settled()
    whole = follow(Shard(), limit=500)
    assert len(whole) == 120
    for count in (2, 4, 16):
        parts = [follow(Shard(k, count)) for k in range(count)]
        assert sorted(e.global_position for part in parts for e in part) == sorted(
            e.global_position for e in whole
        )
        for part in parts:
            # The log's order, restricted to the shard.
            order = [e.global_position for e in whole if e in part]
            assert [e.global_position for e in part] == order
            assert backlog(Checkpoint(), shard=Shard(parts.index(part), count)).events == len(part)
        owners = {e.stream_id: k for k, part in enumerate(parts) for e in part}
        for k, part in enumerate(parts):
            assert all(owners[e.stream_id] == k for e in part)
        assert sum(1 for part in parts if part) > 1  # 40 streams do spread
    # Shards nest: shard k of 2 is shards k and k + 2 of 4.
    for k in range(2):
        halves = {e.global_position for e in follow(Shard(k, 4)) + follow(Shard(k + 2, 4))}
        assert {e.global_position for e in follow(Shard(k, 2))} == halves


def test_a_shard_follower_never_skips_an_event_of_writers_committing_out_of_order() -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(number: int) -> None:
        n = 0
        while not stop.is_set() and n < 60:
            append_to_stream(f"W{number}-{uuid.uuid4()}", "Thing", events(2), expected_version=0)
            n += 1

    threads = [in_own_connection(lambda i=i: writer(i), errors) for i in range(4)]
    seen: dict[int, list[RecordedEvent]] = {0: [], 1: []}
    after = {0: Checkpoint(), 1: Checkpoint()}
    while any(t.is_alive() for t in threads):
        for k in (0, 1):
            page = read_all(after[k], limit=7, shard=Shard(k, 2))
            if page:
                seen[k].extend(page)
                after[k] = page[-1].checkpoint
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    log_settled()
    for k in (0, 1):
        seen[k].extend(follow(Shard(k, 2), after[k]))
    got = [e.global_position for k in (0, 1) for e in seen[k]]
    assert len(got) == len(set(got)) == 4 * 60 * 2  # none twice, none skipped


def test_a_shard_is_read_through_its_index() -> None:
    _fill(streams=20, per_stream=2)
    log_settled()
    from eventstore.backends.postgres import read_shard_sql

    shard = Shard(1, 4)
    params: list[object] = []
    for bucket in shard.buckets:
        params += [bucket, 0, 0, 10]
    # A table this small is cheaper to scan: the planner is told not to, to show the index
    # can answer (the plan at 1M events, where it is chosen: docs/scaling.md).
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + read_shard_sql(len(shard.buckets), False), [*params, 10])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "Merge Append" in plan
    assert plan.count("eventstore_event_shard") == len(shard.buckets)
    assert "Seq Scan on eventstore_event" not in plan


def _forget(subject: str) -> int:
    """Forget ``subject`` (the record in stream Subject-<subject>); returns its position."""
    record = NewEvent("SubjectForgotten", {"subject": subject})
    return forget_subject(
        subject, stream_id=f"Subject-{subject}", stream_type="Subject", event=record
    ).position


def test_a_shard_that_reads_forgets_gets_every_forget_record_once_in_log_order() -> None:
    _fill(streams=20, per_stream=2)
    forgets = [_forget(f"s{n}") for n in range(6)]
    for n in range(10):  # events after the forget records
        append_to_stream(f"Late-{n}", "Thing", events(1), expected_version="no_stream")
    log_settled()
    for count in (2, 4):
        owners = {
            p: k for k in range(count) for p in (e.global_position for e in follow(Shard(k, count)))
        }
        for k in range(count):
            without = follow(Shard(k, count))
            seen = follow(Shard(k, count, forgets=True), limit=3)
            # Its own events, then every forget record (its own once), in the log's order.
            positions = [e.global_position for e in seen]
            assert len(positions) == len(set(positions))
            assert set(positions) == {e.global_position for e in without} | set(forgets)
            assert [e.checkpoint for e in seen] == sorted(e.checkpoint for e in seen)
            # Each forget not its own is in the shard's backlog and between its checkpoints.
            theirs = [p for p in forgets if owners[p] != k]
            assert backlog(START, shard=Shard(k, count, forgets=True)).events == len(without) + len(
                theirs
            )
            for event in seen:
                if event.global_position in theirs:
                    before = Checkpoint(event.checkpoint.tx_id, event.global_position - 1)
                    assert any_between(
                        before, event.checkpoint, shard=Shard(k, count, forgets=True)
                    )
                    assert not any_between(before, event.checkpoint, shard=Shard(k, count))


def test_streams_in_a_shard_are_those_whose_events_it_holds() -> None:
    _fill(streams=30, per_stream=1)
    log_settled()
    for k in range(4):
        held = {e.stream_id for e in follow(Shard(k, 4))}
        assert streams_in([f"Thing-{n}" for n in range(30)], Shard(k, 4)) == held
    assert streams_in(["Thing-1"], Shard()) == {"Thing-1"}


def test_the_forget_records_are_read_through_their_own_index() -> None:
    _fill(streams=20, per_stream=2)
    _forget("s1")
    log_settled()
    from eventstore.backends.postgres import read_shard_sql

    shard = Shard(1, 4, forgets=True)
    params: list[object] = []
    for bucket in shard.buckets:
        params += [bucket, 0, 0, 10]
    params += [0, 0, list(shard.buckets), 10, 10]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + read_shard_sql(len(shard.buckets), False, True), params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert plan.count("eventstore_event_shard") == len(shard.buckets)
    assert "eventstore_forget_records" in plan
    assert "Seq Scan" not in plan
