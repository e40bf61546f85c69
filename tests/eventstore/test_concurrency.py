"""Concurrent writers and a follower on PostgreSQL: no lost write, no hole, no skipped event."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from django.db import connection, transaction

from eventstore.models import Event
from eventstore.store import (
    NO_STREAM,
    Checkpoint,
    ConcurrencyError,
    RecordedEvent,
    append_to_stream,
    current_version,
    read_all,
)
from tests.eventstore.support import events, in_own_connection, log_settled

pytestmark = pytest.mark.postgres

WRITERS = 8
APPENDS_PER_WRITER = 25
SHARED_STREAMS = ("shared-0", "shared-1")
JOIN_TIMEOUT = 180.0


@dataclass
class WriterLog:
    committed: list[tuple[str, tuple[int, ...], tuple[uuid.UUID, ...]]] = field(
        default_factory=list
    )
    shared_conflicts: int = 0
    own_conflicts: int = 0
    errors: list[BaseException] = field(default_factory=list)


@dataclass
class ReaderLog:
    seen: list[RecordedEvent] = field(default_factory=list)
    reads: int = 0
    errors: list[BaseException] = field(default_factory=list)


def write(number: int, start: threading.Barrier, log: WriterLog) -> None:
    rng = random.Random(number)
    own_stream = f"writer-{number}"
    start.wait(timeout=JOIN_TIMEOUT)
    for _ in range(APPENDS_PER_WRITER):
        shared = rng.random() < 0.6
        stream_id = rng.choice(SHARED_STREAMS) if shared else own_stream
        batch = events(rng.randint(1, 3))
        hold_open = rng.random() < 0.5
        try:
            with transaction.atomic():
                seen_version = current_version(stream_id)
                result = append_to_stream(
                    stream_id, "Test", batch, expected_version=seen_version or NO_STREAM
                )
                if hold_open:
                    # The workload, not a wait: keep the transaction open so commits interleave.
                    time.sleep(rng.uniform(0.001, 0.020))
        except ConcurrencyError:
            if shared:
                log.shared_conflicts += 1
            else:
                log.own_conflicts += 1
            continue
        log.committed.append((stream_id, result.positions, tuple(e.event_id for e in batch)))


def follow_log(writers_done: threading.Event, target: list[int], log: ReaderLog) -> None:
    """Follow the log by checkpoint until the writers are done and ``target`` events were read."""
    after = Checkpoint()
    deadline: float | None = None
    while True:
        finished = writers_done.is_set()
        page = read_all(after, limit=7)
        log.reads += 1
        log.seen.extend(page)
        if page:
            after = page[-1].checkpoint
        elif finished:
            if len(log.seen) >= target[0]:
                return
            # Another session on the server may hold the oldest running transaction back.
            deadline = deadline or time.monotonic() + 120
            if time.monotonic() > deadline:
                return
        if not page:
            writers_done.wait(0.001)


def test_concurrent_writers_and_a_follower_lose_nothing_and_see_every_event_once(
    transactional_db: None,
) -> None:
    writer_logs = [WriterLog() for _ in range(WRITERS)]
    reader_log = ReaderLog()
    start = threading.Barrier(WRITERS)
    writers_done = threading.Event()
    target = [0]

    reader = in_own_connection(
        lambda: follow_log(writers_done, target, reader_log), reader_log.errors
    )
    writers = [
        in_own_connection(lambda n=n, log=log: write(n, start, log), log.errors)
        for n, log in enumerate(writer_logs)
    ]
    for thread in writers:
        thread.join(JOIN_TIMEOUT)
    target[0] = Event.objects.count()
    writers_done.set()
    reader.join(JOIN_TIMEOUT)

    assert not any(t.is_alive() for t in [*writers, reader]), "a thread did not finish"
    assert [e for log in writer_logs for e in log.errors] == []
    assert reader_log.errors == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT global_position, event_id, stream_id, version FROM eventstore_event "
            "ORDER BY tx_id, global_position"
        )
        table = cursor.fetchall()

    # The follower saw every committed event exactly once, in the log's checkpoint order.
    assert [e.global_position for e in reader_log.seen] == [row[0] for row in table]
    checkpoints = [e.checkpoint for e in reader_log.seen]
    assert checkpoints == sorted(set(checkpoints))

    # Per stream, versions are 1..n without a hole.
    versions: dict[str, list[int]] = defaultdict(list)
    for _, _, stream_id, version in table:
        versions[stream_id].append(version)
    for stream_id, stream_versions in versions.items():
        assert sorted(stream_versions) == list(range(1, len(stream_versions) + 1)), stream_id

    # Losers lost loudly, and only on shared streams.
    shared_conflicts = sum(log.shared_conflicts for log in writer_logs)
    assert shared_conflicts > 0
    assert sum(log.own_conflicts for log in writer_logs) == 0

    # Every successful append is in the table as returned; nothing else is.
    stored = {position: (event_id, stream_id) for position, event_id, stream_id, _ in table}
    committed = [c for log in writer_logs for c in log.committed]
    for stream_id, positions, event_ids in committed:
        assert [stored.get(p) for p in positions] == [(i, stream_id) for i in event_ids]
    assert sum(len(positions) for _, positions, _ in committed) == len(table)
    assert len(committed) + shared_conflicts == WRITERS * APPENDS_PER_WRITER


def test_read_all_holds_back_a_later_commit_while_an_older_transaction_is_open(
    transactional_db: None,
) -> None:
    a_appended = threading.Event()
    release_a = threading.Event()
    a_positions: list[int] = []
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                result = append_to_stream("stream-a", "Test", events(1), expected_version=NO_STREAM)
                a_positions.extend(result.positions)
                a_appended.set()
                assert release_a.wait(JOIN_TIMEOUT), "never released"
        finally:
            a_appended.set()

    thread_a = in_own_connection(slow_writer, errors)
    try:
        assert a_appended.wait(JOIN_TIMEOUT)
        assert errors == []
        b_position = append_to_stream(
            "stream-b", "Test", events(1), expected_version=NO_STREAM
        ).last_position

        # A took its position first, B committed first: a follower of plain position order
        # would read B now, checkpoint B's position, and never see A.
        [a_position] = a_positions
        assert a_position < b_position
        assert list(Event.objects.values_list("global_position", flat=True)) == [b_position]
        # Ordered by transaction id and bounded by the oldest running one, B waits for A.
        assert read_all() == []
    finally:
        release_a.set()
        thread_a.join(JOIN_TIMEOUT)
    assert errors == []

    log_settled()
    first, second = read_all()
    assert (first.stream_id, first.global_position) == ("stream-a", a_position)
    assert (second.stream_id, second.global_position) == ("stream-b", b_position)
    assert first.tx_id < second.tx_id
    assert read_all(first.checkpoint) == [second]
    assert read_all(second.checkpoint) == []
