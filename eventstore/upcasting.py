"""Upcasters: functions that turn an old event payload into the next schema version on read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_upcasters: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning ``event_type`` payloads of ``from_version`` into the next."""

    def decorator(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if (key in _upcasters and _upcasters[key] is not fn) or key in _stream_upcasters:
            raise ValueError(f"An upcaster for {event_type} v{from_version} is already registered")
        _upcasters[key] = fn
        return fn

    return decorator


def unregister_upcaster(event_type: str, from_version: int) -> None:
    _upcasters.pop((event_type, from_version), None)


def upcast(event_type: str, schema_version: int, data: Payload) -> tuple[int, Payload]:
    """Apply registered upcasters in turn; returns the current schema version and payload."""
    while (fn := _upcasters.get((event_type, schema_version))) is not None:
        data = fn(dict(data))
        schema_version += 1
    return schema_version, data


# --- upcasters that need the stream's earlier events -------------------------------------------
# Some old payloads lack a value that only the stream's earlier events tell (an order line's
# quantity *after* an add, when v1 recorded only the units added). Such an upcaster folds a
# context over the earlier events of the types it names (as they read today, upcast), and the
# store gives it that context: while it reads a stream it folds the events it passes, and where a
# read starts after the stream's first event (a page, a read of the whole log, a load after a
# snapshot) it first reads the earlier ones it needs, once per stream and read. Only old events
# cost that: a read that meets none reads nothing more.
Context = Any
EarlierEvents = Callable[[str, int, int, frozenset[str]], list[tuple[int, str, int, Payload]]]
"""(stream_id, from_version, to_version, event types) → the stream's stored events of those
types in that range, as (version, event_type, schema_version, payload), in version order."""


@dataclass(frozen=True)
class StreamUpcaster:
    """Turns ``event_type`` payloads of ``from_version`` into the next version, given a context
    folded from the same stream's earlier events of ``reads`` (each as it reads today)."""

    event_type: str
    from_version: int
    reads: frozenset[str]
    new_context: Callable[[], Context]
    see: Callable[[Context, str, Payload], None]  # fold an earlier event into the context
    upcast: Callable[[Context, Payload], Payload]


_stream_upcasters: dict[tuple[str, int], StreamUpcaster] = {}
_stream_reads: set[str] = set()  # the event types any of them reads


def register_stream_upcaster(upcaster: StreamUpcaster) -> StreamUpcaster:
    key = (upcaster.event_type, upcaster.from_version)
    if key in _upcasters or _stream_upcasters.get(key, upcaster) is not upcaster:
        raise ValueError(
            f"An upcaster for {upcaster.event_type} v{upcaster.from_version} is already registered"
        )
    _stream_upcasters[key] = upcaster
    _stream_reads.update(upcaster.reads)
    return upcaster


def unregister_stream_upcaster(event_type: str, from_version: int) -> None:
    _stream_upcasters.pop((event_type, from_version), None)
    _stream_reads.clear()
    for upcaster in _stream_upcasters.values():
        _stream_reads.update(upcaster.reads)


# What an upcaster raises for a payload it cannot read (a field missing, a value of another
# type): the event is then given as far as it was upcast, and its reader's fold refuses it
# (an order that cannot be read, a poison event for a projection), as it would any payload
# that does not fit; the read itself goes on.
UNREADABLE = (LookupError, TypeError, ValueError, ArithmeticError, AttributeError)


class _Folded:
    __slots__ = ("broken", "context", "upcaster", "version")

    def __init__(self, upcaster: StreamUpcaster) -> None:
        self.upcaster = upcaster
        self.context = upcaster.new_context()
        self.version = 0  # the stream's events up to this version are folded into the context
        self.broken = False  # an earlier event did not fold: no context from there on


class StreamUpcasting:
    """Upcasting for one read: events of any streams, each stream's in version order.

    Call it with every event the read returns, in that order; ``earlier`` reads the stored
    events a context still lacks. A context is made only for a stream where an event needs one
    (reading that stream's earlier events once), and then follows the stream's later events in
    the read. An event an upcaster cannot read, or whose context an earlier unreadable event
    broke, is given as far as it was upcast (see UNREADABLE).
    """

    def __init__(self, earlier: EarlierEvents) -> None:
        self._earlier = earlier
        self._folded: dict[str, list[_Folded]] = {}  # by stream id
        # Per stream the read has met from its first event on: the events of the types stream
        # upcasters read (as they read today) and the last version met. A context a later event
        # needs folds these instead of reading them again: a read of the whole log meets most
        # streams from their start, and asked the database once per stream otherwise.
        self._passed: dict[str, tuple[int, list[tuple[str, Payload]]]] = {}

    def __call__(
        self, stream_id: str, version: int, event_type: str, schema_version: int, data: Payload
    ) -> tuple[int, Payload]:
        if not _stream_upcasters:
            return upcast(event_type, schema_version, data)
        while True:
            key = (event_type, schema_version)
            try:
                if (fn := _upcasters.get(key)) is not None:
                    data = fn(dict(data))
                elif (upcaster := _stream_upcasters.get(key)) is not None:
                    one = self._context(stream_id, upcaster, version)
                    if one.broken:
                        break
                    data = upcaster.upcast(one.context, dict(data))
                else:
                    break
            except UNREADABLE:
                break
            schema_version += 1
        folded = self._folded.get(stream_id)
        if folded is not None:
            for one in folded:
                if one.version == version - 1:
                    if event_type in one.upcaster.reads and not one.broken:
                        try:
                            one.upcaster.see(one.context, event_type, data)
                        except UNREADABLE:
                            one.broken = True
                    one.version = version
        self._pass(stream_id, version, event_type, data)
        return schema_version, data

    def _pass(self, stream_id: str, version: int, event_type: str, data: Payload) -> None:
        if version == 1:
            passed: list[tuple[str, Payload]] = []
        elif (known := self._passed.get(stream_id)) is not None and known[0] == version - 1:
            passed = known[1]
        else:
            self._passed.pop(stream_id, None)  # met from elsewhere than its start
            return
        if event_type in _stream_reads:
            passed.append((event_type, data))
        self._passed[stream_id] = (version, passed)

    def _context(self, stream_id: str, upcaster: StreamUpcaster, version: int) -> _Folded:
        """``upcaster``'s context of ``stream_id`` just before ``version``."""
        folded = self._folded.setdefault(stream_id, [])
        one = next((f for f in folded if f.upcaster is upcaster), None)
        if one is None:
            one = _Folded(upcaster)
            folded.append(one)
        if one.version < version - 1:
            passed = self._passed.get(stream_id)
            if one.version == 0 and passed is not None and passed[0] == version - 1:
                # Met in this read from the stream's start: fold what it passed.
                for event_type, data in passed[1]:
                    if event_type in upcaster.reads and not one.broken:
                        try:
                            upcaster.see(one.context, event_type, data)
                        except UNREADABLE:
                            one.broken = True
                one.version = version - 1
                return one
            # The stream's earlier events it reads, not folded yet (read in order; events of
            # other types between them do not change the context). Each is upcast in turn,
            # by this same context where it needs it.
            for number, event_type, schema_version, data in self._earlier(
                stream_id, one.version + 1, version - 1, upcaster.reads
            ):
                one.version = number - 1
                self(stream_id, number, event_type, schema_version, data)
            one.version = version - 1
        return one
