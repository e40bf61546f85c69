"""Records an export of the log carries besides its events, one kind per app that owns them.

The event store knows none of them: an app registers a kind (its name, the fields a record
needs, how to list its records and how to write them back), and ``eventstore_export`` writes
them after the events as JSON lines with a ``"kind"`` field; ``eventstore_import`` restores
them once the events are in. An event's line has no ``kind``, as in exports made before kinds
existed, so those still import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class RecordKind:
    name: str
    fields: tuple[str, ...]
    # The records to export: all of them, or (given a stream id) those of that stream's events.
    export: Callable[[str | None], Iterable[Record]]
    # Writes imported records back once the events are in; returns how many. Raises ValueError
    # (its message for the operator) for a record that does not fit the imported log.
    restore: Callable[[Sequence[Record]], int]


_KINDS: dict[str, RecordKind] = {}


def register_record_kind(kind: RecordKind) -> None:
    if _KINDS.get(kind.name, kind) is not kind:
        raise ValueError(f"A record kind {kind.name!r} is already registered.")
    _KINDS[kind.name] = kind


def record_kinds() -> list[RecordKind]:
    return list(_KINDS.values())


def record_kind(name: str) -> RecordKind | None:
    return _KINDS.get(name)
