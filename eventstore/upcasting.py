"""Upcasters: functions that turn an old event payload into the next schema version on read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_upcasters: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning ``event_type`` payloads of ``from_version`` into the next."""

    def decorator(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _upcasters and _upcasters[key] is not fn:
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
