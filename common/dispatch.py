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


class Hook:
    """Callables (no arguments) run, in the order connected, each time the hook is sent: a
    lower layer announces that something happened without knowing who listens (the upper
    layer connects at its app's ready())."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Callable[[], None]] = []

    def connect(self, receiver: Callable[[], None]) -> None:
        if receiver not in self._receivers:
            self._receivers.append(receiver)

    def disconnect(self, receiver: Callable[[], None]) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def send(self) -> None:
        for receiver in list(self._receivers):
            receiver()


# Sent after a command's transaction commits (orders.services). The read side connects its
# wake-up of the projections (projections.apps), so that orders imports nothing of it.
command_committed = Hook("command_committed")
