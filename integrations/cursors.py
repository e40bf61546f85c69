"""Each webhook's place in the log: its follower's checkpoint (the follower core's)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from integrations.models import Webhook


@dataclass(frozen=True)
class Place:
    position: int
    lag_events: int


def start(webhook: Webhook) -> None:
    """Give a new webhook its follower, at the log's current end."""


def forget(webhook: Webhook) -> None:
    """Remove a deleted webhook's follower."""


def resume(webhook: Webhook) -> None:
    """Let an enabled webhook's follower run at once."""


def places(webhooks: Iterable[Webhook]) -> dict[Any, Place]:
    return {webhook.id: Place(0, 0) for webhook in webhooks}
