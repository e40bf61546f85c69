"""Personal data in the log, crypto-shredded: sealed with a key per data subject, erased by
deleting the key.

An app registers which fields of which event types are personal (``register_personal_fields``)
and how an event names its subject (a field of the payload, else the subject given with the
event, else the stream's). On append and import the store moves those fields of a payload into
one envelope, ``payload["_sealed"] = {"subject", "fields", "box"}``: ``box`` is the fields'
values encrypted with AES-256-GCM (``cryptography``, a random 96-bit nonce per envelope, the
subject as associated data) under the subject's key. Keys live in ``eventstore_personal_key``
and nowhere else: not in the log, an export, a read table or a log line.

On every read (a stream, the log, an export, an event in the back office) the store opens the
envelopes with the keys read from that table in the same batch, and puts each field back in its
place, so everything above the store sees clear values; once a subject is forgotten its key is
gone, and each of its personal fields reads ``"[erased]"``. Keys are never cached for reading.
Appends cache keys per process, but the append statement itself checks that the cached key is
still the subject's (eventstore.backends.postgres): a forget in another process takes effect on
the next append everywhere.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ERASED: Final = "[erased]"
SEALED: Final = "_sealed"  # the payload's key holding the envelope
_NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32  # AES-256


@dataclass(frozen=True, slots=True)
class PersonalFields:
    """The personal fields of one event type, as paths into its payload, and the payload field
    naming the data subject (None: the subject comes with the event or from its stream)."""

    event_type: str
    paths: tuple[tuple[str, ...], ...]
    subject_field: str | None = None
    # The paths grouped by the dict holding them (each parent walked and copied once).
    by_parent: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        groups: dict[tuple[str, ...], list[str]] = {}
        for path in self.paths:
            groups.setdefault(path[:-1], []).append(path[-1])
        grouped = tuple((parent, tuple(names)) for parent, names in groups.items())
        object.__setattr__(self, "by_parent", grouped)


_REGISTRY: dict[str, PersonalFields] = {}


def register_personal_fields(
    event_type: str, paths: Iterable[str], *, subject_field: str | None = None
) -> PersonalFields:
    """Declare the dotted ``paths`` of ``event_type``'s payload personal (sealed on append)."""
    fields = PersonalFields(
        event_type, tuple(tuple(p.split(".")) for p in paths), subject_field=subject_field
    )
    if _REGISTRY.get(event_type, fields) != fields:
        raise ValueError(f"Personal fields of {event_type} are already registered otherwise")
    _REGISTRY[event_type] = fields
    return fields


def unregister_personal_fields(event_type: str) -> None:
    _REGISTRY.pop(event_type, None)


def personal_fields(event_type: str) -> PersonalFields | None:
    return _REGISTRY.get(event_type)


# --- keys ---------------------------------------------------------------------------------------
def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


@lru_cache(maxsize=16384)
def _cipher(key: bytes) -> AESGCM:
    """The cipher of ``key`` (by the key's bytes, never by subject: a key deleted from the table
    is never read again, so a cipher kept here cannot open anything after a forget)."""
    return AESGCM(key)


class AppendKeys:
    """The keys this process last sealed with, per subject: a hint the append statement checks
    against the key table (a wrong or erased one appends nothing and is dropped)."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, subject: str) -> bytes | None:
        return self._keys.get(subject)

    def put(self, subject: str, key: bytes) -> None:
        with self._lock:
            if subject not in self._keys and len(self._keys) >= self.capacity:
                del self._keys[next(iter(self._keys))]  # the one kept longest
            self._keys[subject] = key

    def drop(self, subject: str) -> None:
        with self._lock:
            self._keys.pop(subject, None)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


append_keys: Final = AppendKeys()


# --- sealing and opening ------------------------------------------------------------------------
Parent = tuple[str, ...]


@lru_cache(maxsize=256)
def _places(names: tuple[str, ...]) -> tuple[tuple[Parent, tuple[tuple[int, str], ...]], ...]:
    """An envelope's dotted field names grouped by parent, with their index in its values."""
    groups: dict[Parent, list[tuple[int, str]]] = {}
    for i, name in enumerate(names):
        *parent, last = name.split(".")
        groups.setdefault(tuple(parent), []).append((i, last))
    return tuple((parent, tuple(entries)) for parent, entries in groups.items())


def has_personal_values(fields: PersonalFields, data: Mapping[str, Any]) -> bool:
    if SEALED in data:
        return False
    for parent_path, names in fields.by_parent:
        node: Any = data
        for part in parent_path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and any(name in node for name in names):
            return True
    return False


def _parent(data: dict[str, Any], path: Parent, *, copy: bool = True) -> dict[str, Any] | None:
    """The dict at ``path`` in ``data``, copied along the way unless ``copy`` is False (the
    caller's payload is then changed in place), or None."""
    node = data
    for part in path:
        child = node.get(part)
        if not isinstance(child, dict):
            return None
        if copy:
            child = node[part] = dict(child)
        node = child
    return node


def seal(
    data: Mapping[str, Any], fields: PersonalFields, subject: str, key: bytes
) -> dict[str, Any]:
    """``data`` with its personal fields moved into an envelope sealed with ``key``."""
    out = dict(data)
    names: list[str] = []
    values: list[Any] = []
    for parent_path, parent_names in fields.by_parent:
        parent = _parent(out, parent_path)
        if parent is None:
            continue
        for name in parent_names:
            if name in parent:
                values.append(parent.pop(name))
                names.append(".".join((*parent_path, name)))
    if not names:
        return out
    nonce = os.urandom(_NONCE_BYTES)
    box = nonce + _cipher(key).encrypt(nonce, orjson.dumps(values), subject.encode())
    out[SEALED] = {"subject": subject, "fields": names, "box": base64.b64encode(box).decode()}
    return out


def erased(data: Mapping[str, Any], fields: PersonalFields) -> dict[str, Any]:
    """``data`` with each of its personal fields "[erased]" (a forgotten subject's, imported)."""
    out = dict(data)
    for parent_path, names in fields.by_parent:
        parent = _parent(out, parent_path)
        if parent is not None:
            for name in names:
                if name in parent:
                    parent[name] = ERASED
    return out


def subject_of_sealed(data: Mapping[str, Any]) -> str | None:
    envelope = data.get(SEALED)
    return envelope.get("subject") if isinstance(envelope, dict) else None


def subjects(payloads: Iterable[Mapping[str, Any]]) -> set[str]:
    """The subjects whose keys opening ``payloads`` needs."""
    return {s for d in payloads if SEALED in d and (s := subject_of_sealed(d)) is not None}


def open_sealed(
    data: dict[str, Any], keys: Mapping[str, bytes | None], *, in_place: bool = False
) -> dict[str, Any]:
    """``data`` with its envelope opened: each personal field back in its place, clear, or
    ``"[erased]"`` when the subject's key is gone (or does not open the envelope).
    ``in_place``: change ``data`` itself (a payload just parsed from a row, which nobody else
    holds: the read path, where fewer allocations are a good part of the cost)."""
    envelope = data.get(SEALED)
    if not isinstance(envelope, dict):
        return data
    out = data if in_place else dict(data)
    del out[SEALED]
    subject = envelope.get("subject")
    names = envelope.get("fields")
    if not isinstance(names, list):
        return out
    values: list[Any] | None = None
    key = keys.get(subject) if isinstance(subject, str) else None
    if key is not None and isinstance(subject, str):
        try:
            box = memoryview(base64.b64decode(envelope["box"]))
            values = orjson.loads(
                _cipher(key).decrypt(box[:_NONCE_BYTES], box[_NONCE_BYTES:], subject.encode())
            )
        except (InvalidTag, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            values = None  # sealed under a key erased meanwhile: a command racing its forget
        if not isinstance(values, list) or len(values) != len(names):
            values = None
    for parent_path, entries in _places(tuple(names)):
        parent = _parent(out, parent_path, copy=not in_place)
        if parent is None:  # its parent went with the envelope (a payload of another shape)
            continue
        for i, name in entries:
            parent[name] = ERASED if values is None else values[i]
    return out


KeyReader = Callable[[Collection[str]], Mapping[str, bytes | None]]


def open_all(
    payloads: list[dict[str, Any]], read_keys: KeyReader, *, in_place: bool = False
) -> list[dict[str, Any]]:
    """``payloads`` opened with keys read once for all of them (``read_keys(subjects)``)."""
    wanted: Collection[str] = subjects(payloads)
    if not wanted:
        return payloads
    keys = read_keys(wanted)
    return [open_sealed(d, keys, in_place=in_place) if SEALED in d else d for d in payloads]
