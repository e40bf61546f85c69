"""Value objects shared by commands and events (money, lines, addresses) and a line's limits.

Values are plain: events loaded from the log rebuild them as stored, never re-checked, so a
limit lowered later cannot make an existing order unloadable. The limits are checked once,
when a command is decided (``checked_line``, called by the Order aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from orders.domain.errors import InvalidCommand

MAX_QUANTITY = 10_000
MAX_UNIT_PRICE = Decimal("1000000.00")
MAX_DISTINCT_PRODUCTS = 500
CENT = Decimal("0.01")


def money(value: Decimal | str | int) -> Decimal:
    """An exact amount with two decimal places; refuses more precision than cents."""
    try:
        amount = Decimal(value)
        # Raises for more digits than the decimal context holds (1e26 in cents): no amount.
        cents = amount.quantize(CENT) if amount.is_finite() else None
    except ArithmeticError:
        raise InvalidCommand(f"{value!r} is not an amount") from None
    if cents is None or amount != cents:
        raise InvalidCommand(f"{value!r} is not an amount with at most two decimal places")
    return abs(cents) if cents.is_zero() else cents


@dataclass(frozen=True, slots=True)
class LineItem:
    product_id: str
    quantity: int
    unit_price: Decimal
    # Derived once: read models and totals ask for it on every event they fold.
    line_total: Decimal = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "line_total", (self.unit_price * self.quantity).quantize(CENT))

    def to_payload(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "quantity": self.quantity,
            "unit_price": str(self.unit_price),
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> LineItem:
        return cls(data["product_id"], int(data["quantity"]), Decimal(data["unit_price"]))


def checked_line(item: LineItem) -> LineItem:
    """``item`` as a command may order it, its price in exact cents; InvalidCommand if not.

    A quantity is 1..MAX_QUANTITY, a unit price 0.00..MAX_UNIT_PRICE with at most two places.
    """
    price = money(item.unit_price)
    if not 1 <= item.quantity <= MAX_QUANTITY:
        raise InvalidCommand(f"quantity must be 1..{MAX_QUANTITY}", product_id=item.product_id)
    if not Decimal(0) <= price <= MAX_UNIT_PRICE:
        raise InvalidCommand(
            f"unit_price must be 0.00..{MAX_UNIT_PRICE}", product_id=item.product_id
        )
    return LineItem(item.product_id, item.quantity, price)


# The address's personal fields (the API contract's "Personal data"): sealed in the log with a
# key per customer, and read "[erased]" once the customer is forgotten. The country stays clear.
PERSONAL_ADDRESS_FIELDS: Final = ("line1", "line2", "city", "postal_code")


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""

    def to_payload(self) -> dict[str, str]:
        return {
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "postal_code": self.postal_code,
            "country": self.country,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Address:
        return cls(
            line1=data["line1"],
            line2=data.get("line2") or "",
            city=data["city"],
            postal_code=data["postal_code"],
            country=data["country"],
        )
