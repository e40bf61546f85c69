"""How the back office writes values: times in UTC with seconds, money with its currency and
thousands separators, the same way on every page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone


def moment(value: datetime | None) -> str:
    """``2024-03-01 10:05:07 UTC``: fits a list column, sorts as text, says its time zone."""
    if value is None:
        return "—"
    return timezone.localtime(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def amount(value: Decimal | int | None, currency: str = "") -> str:
    """``12,345.60 USD``: grouped thousands, two places, the currency after the number."""
    if value is None:
        return "—"
    text = f"{Decimal(value):,.2f}"
    return f"{text} {currency}" if currency else text


def amount_in(value: Decimal | int | None, currencies: Iterable[str]) -> str:
    """A sum over orders of ``currencies`` (the read models add up totals whatever their
    currency): the currency when there is one, and a warning when several were added up."""
    found = sorted(set(currencies))
    if len(found) <= 1:
        return amount(value, found[0] if found else "")
    return f"{amount(value)} (mixed: {', '.join(found)})"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
