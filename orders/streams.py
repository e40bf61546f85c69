"""The order streams of the log: one per order, named by its id (what the read side needs to
know of them, without the write side's repository)."""

from __future__ import annotations

import uuid
from typing import Final

STREAM_TYPE: Final = "Order"


def stream_id_for(order_id: uuid.UUID | str) -> str:
    return f"{STREAM_TYPE}-{order_id}"
