"""Following the log: per-stream order across multi-stream transactions, starting "from now",
and no code that pages the log by position."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import transaction

from eventstore.models import Event
from eventstore.store import (
    NO_STREAM,
    Checkpoint,
    ConcurrencyError,
    RecordedEvent,
    append_to_stream,
    checkpoint_now,
    current_version,
    head_position,
    read_all,
)
from tests.eventstore.support import events, in_own_connection, log_settled
from tests.waiting import wait_until

JOIN_TIMEOUT = 180.0
PROJECT = Path(__file__).resolve().parents[2]


def follow(after: Checkpoint) -> list[RecordedEvent]:
    """Every committed event after ``after``, page by page, as a projector reads them."""
    log_settled()
    seen: list[RecordedEvent] = []
    while page := read_all(after, limit=7):
        seen.extend(page)
        after = page[-1].checkpoint
    return seen


def all_positions() -> set[int]:
    return set(Event.objects.values_list("global_position", flat=True))


def wait_for_rows(count: int) -> None:
    wait_until(lambda: Event.objects.count() >= count, timeout=JOIN_TIMEOUT, what=f"{count} events")


def versions_by_stream(seen: list[RecordedEvent]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = defaultdict(list)
    for event in seen:
        versions[event.stream_id].append(event.version)
    return versions


class Held:
    """A transaction on another connection, held open between steps the test drives."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self._steps: list[tuple[Callable[[], object], threading.Event]] = []
        self._ready = threading.Semaphore(0)
        self._thread = in_own_connection(self._run, self.errors)

    def _run(self) -> None:
        with transaction.atomic():
            while True:
                self._ready.acquire()
                step, done = self._steps.pop(0)
                try:
                    if step() == "commit":
                        return
                finally:
                    done.set()

    def do(self, step: Callable[[], object]) -> None:
        """Run ``step`` in the held transaction and wait for it."""
        done = threading.Event()
        self._steps.append((step, done))
        self._ready.release()
        assert done.wait(JOIN_TIMEOUT), "the held transaction did not answer"
        assert self.errors == []

    def commit(self) -> None:
        self.do(lambda: "commit")
        self._thread.join(JOIN_TIMEOUT)
        assert not self._thread.is_alive()


# --- per-stream order across multi-stream transactions --------------------------------------


@pytest.mark.postgres
def test_an_append_in_a_transaction_older_than_the_streams_last_writer_sorts_after_it(
    transactional_db: None,
) -> None:
    older = Held()
    older.do(lambda: append_to_stream("other", "Test", events(1), expected_version=NO_STREAM))
    # A newer transaction starts and commits version 1 of "shared" while the older one is open.
    append_to_stream("shared", "Test", events(1), expected_version=NO_STREAM)
    older.do(lambda: append_to_stream("shared", "Test", events(1), expected_version=1))
    older.commit()

    seen = follow(Checkpoint())

    assert [(e.stream_id, e.version) for e in seen if e.stream_id == "shared"] == [
        ("shared", 1),
        ("shared", 2),
    ]
    first, second = (e for e in seen if e.stream_id == "shared")
    assert first.checkpoint < second.checkpoint
    assert {e.stream_id for e in seen} == {"other", "shared"}


@dataclass
class MultiStreamWriters:
    committed: list[tuple[int, ...]] = field(default_factory=list)
    conflicts: int = 0
    errors: list[BaseException] = field(default_factory=list)


def write_two_streams_per_transaction(
    number: int, start: threading.Barrier, log: MultiStreamWriters
) -> None:
    rng = random.Random(number)
    streams = ["s-0", "s-1", "s-2"]
    start.wait(timeout=JOIN_TIMEOUT)
    for _ in range(20):
        first, second = rng.sample(streams, 2)
        try:
            with transaction.atomic():
                positions: list[int] = []
                for stream_id in (first, second):
                    version = current_version(stream_id)
                    result = append_to_stream(
                        stream_id, "Test", events(rng.randint(1, 2)), expected_version=version
                    )
                    positions += result.positions
                    # The workload, not a wait: others commit to the second stream meanwhile.
                    time.sleep(rng.uniform(0.001, 0.010))
        except ConcurrencyError:
            log.conflicts += 1
            continue
        log.committed.append(tuple(positions))


@pytest.mark.postgres
def test_concurrent_transactions_appending_to_two_streams_keep_every_stream_in_version_order(
    transactional_db: None,
) -> None:
    writers = 6
    log = MultiStreamWriters()
    start = threading.Barrier(writers)
    threads = [
        in_own_connection(lambda n=n: write_two_streams_per_transaction(n, start, log), log.errors)
        for n in range(writers)
    ]
    # A follower that reads while the writers write, as a projector does.
    follower_seen: list[RecordedEvent] = []
    after = Checkpoint()
    while any(t.is_alive() for t in threads):
        page = read_all(after, limit=5)
        follower_seen += page
        if page:
            after = page[-1].checkpoint
        else:
            threads[0].join(0.001)  # nothing new yet: let the writers on
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert log.errors == []
    follower_seen += follow(after)

    assert len(log.committed) > 0
    assert sorted(e.global_position for e in follower_seen) == sorted(all_positions())
    assert {p for positions in log.committed for p in positions} == all_positions()
    for stream_id, versions in versions_by_stream(follower_seen).items():
        assert versions == list(range(1, len(versions) + 1)), stream_id


# --- following from now ---------------------------------------------------------------------


def test_checkpoint_now_of_an_empty_log_is_the_start(transactional_db: None) -> None:
    assert checkpoint_now() == Checkpoint()


def test_a_follower_from_checkpoint_now_gets_only_what_is_appended_afterwards(
    transactional_db: None,
) -> None:
    append_to_stream("before", "Test", events(3), expected_version=NO_STREAM)
    log_settled()
    now = checkpoint_now()
    assert follow(now) == []

    after = append_to_stream("after", "Test", events(2), expected_version=NO_STREAM)

    assert [e.global_position for e in follow(now)] == list(after.positions)


@pytest.mark.postgres
def test_a_transaction_in_flight_at_checkpoint_now_is_delivered_when_it_commits(
    transactional_db: None,
) -> None:
    in_flight = Held()
    appended: list[int] = []
    in_flight.do(
        lambda: appended.extend(
            append_to_stream("slow", "Test", events(1), expected_version=NO_STREAM).positions
        )
    )
    quick = append_to_stream("quick", "Test", events(1), expected_version=NO_STREAM)

    now = checkpoint_now()
    head = head_position()
    in_flight.commit()

    # The head was no place to start: the slow event's position lies below it.
    assert appended[0] < head == quick.last_position
    delivered = [e.global_position for e in follow(now)]
    assert appended[0] in delivered
    assert len(delivered) == len(set(delivered))


@pytest.mark.postgres
def test_checkpoint_now_under_concurrent_writers_skips_nothing_committed_after_it(
    transactional_db: None,
) -> None:
    writers, errors = 4, []
    stop = threading.Event()

    def write(number: int) -> None:
        rng = random.Random(number)
        while not stop.is_set():
            with transaction.atomic():
                append_to_stream(f"w-{number}", "Test", events(1), expected_version="any")
                # The workload: transactions stay open while others commit and the checkpoint
                # is taken.
                time.sleep(rng.uniform(0.0, 0.005))

    threads = [in_own_connection(lambda n=n: write(n), errors) for n in range(writers)]
    try:
        wait_for_rows(writers * 20)
        now = checkpoint_now()
        visible_after_the_call = all_positions()
        wait_for_rows(len(visible_after_the_call) + writers * 20)
    finally:
        stop.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
    assert errors == []

    delivered = [e.global_position for e in follow(now)]
    assert len(delivered) == len(set(delivered))
    assert all_positions() - visible_after_the_call <= set(delivered)
    assert set(delivered) <= all_positions()


# --- nothing pages the log by position ------------------------------------------------------

# Comparing global_position with "greater than" is how a follower pages by position: only the
# SQLite backend may (its writers are serialized, so position order is commit order there).
POSITION_PAGING = re.compile(r"global_position\s*(>|__gt)", re.IGNORECASE)
# The back office shows people pages of the log by position, read again on every load and never
# kept as a checkpoint: a page may lack an event that commits after it was read, as any list
# may, but nothing follows the log through it.
BROWSING = {Path("backoffice/eventlog.py"), Path("backoffice/admin/events.py")}
ALLOWED = {
    Path("eventstore/backends/sqlite.py"),
    Path(__file__).resolve().relative_to(PROJECT),
    *BROWSING,
}


def test_nothing_in_the_project_pages_the_log_by_global_position() -> None:
    sources = [
        path
        for path in PROJECT.rglob("*.py")
        # mutants/ is mutmut's copy of the project (scripts/mutation.sh), not the project.
        if not {".venv", "migrations", "mutants"} & set(path.relative_to(PROJECT).parts)
    ]
    assert len(sources) > 100  # the scan sees the project
    offenders = [
        f"{path.relative_to(PROJECT)}:{number}: {line.strip()}"
        for path in sources
        if path.relative_to(PROJECT) not in ALLOWED
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if POSITION_PAGING.search(line)
    ]
    assert offenders == []


def test_the_position_paging_scan_recognises_paging() -> None:
    for line in (
        "Event.objects.filter(global_position__gt=checkpoint)",
        "Event.objects.filter(global_position__gte=last + 1)",
        "WHERE global_position > %s ORDER BY global_position",
        "where e.global_position>=:after",
    ):
        assert POSITION_PAGING.search(line), line
    assert not POSITION_PAGING.search("ORDER BY tx_id, global_position LIMIT %s")
