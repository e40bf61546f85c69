"""One way to route a message (a command, a query) to its handler: a dict from type to handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

M = TypeVar("M")
R = TypeVar("R")
H = TypeVar("H")

# Message type -> the one function that handles messages of that type.
HandlerMap = Mapping[type[M], Callable[..., R]]


class NoHandlerError(LookupError):
    """No handler is registered for the message's type."""


def handler_for(handlers: Mapping[type[Any], H], message: object) -> H:
    """The handler of ``message``'s exact type; raises NoHandlerError if there is none."""
    try:
        return handlers[type(message)]
    except KeyError:
        raise NoHandlerError(f"No handler registered for {type(message).__name__}") from None
