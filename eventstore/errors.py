"""The event store's errors: every one is an EventStoreError."""

from __future__ import annotations

from eventstore.records import ExpectedVersion


class EventStoreError(Exception):
    """Base class of the event store's errors."""


class ConcurrencyError(EventStoreError):
    """The stream's version is not the one the writer expected (or another writer won a race)."""

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int | None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        actual_text = "another writer appended concurrently" if actual is None else str(actual)
        super().__init__(
            f"Stream {stream_id!r}: expected version {expected}, actual version {actual_text}"
        )


class DuplicateEventError(EventStoreError):
    """An event with the same event_id is already in the log."""


class SubjectForgotten(EventStoreError):
    """The events carry personal data of a data subject who was forgotten: nothing appended."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__("The data subject of these events was forgotten.")


class SealingKeyRejected(EventStoreError):
    """(Internal to the store.) The key an append sealed with is not the subject's (any more):
    nothing was appended; the store reads the key again and retries."""
