"""How the back office writes values in its lists: compact, sortable-looking, UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone


def moment(value: datetime | None) -> str:
    """``2024-03-01 10:05`` (UTC): fits a list column and reads the same in every list."""
    if value is None:
        return "—"
    return timezone.localtime(value, UTC).strftime("%Y-%m-%d %H:%M")
