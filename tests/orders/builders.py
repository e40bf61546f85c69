"""Small builders for order test data: domain commands and the matching JSON request bodies."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from orders.domain import commands as cmd
from orders.domain import events as ev
from orders.domain.values import Address, LineItem

ADDRESS = Address(line1="1 Main St", city="Springfield", postal_code="12345", country="US")
OTHER_ADDRESS = Address(
    line1="2 Side Rd", line2="Flat 3", city="Shelbyville", postal_code="54321", country="US"
)


def line(product_id: str = "sku-1", quantity: int = 1, unit_price: str = "10.00") -> LineItem:
    return LineItem(product_id, quantity, Decimal(unit_price))


def create_order(
    *,
    order_id: uuid.UUID | None = None,
    customer_id: str = "cust-1",
    items: tuple[LineItem, ...] | None = None,
    shipping_address: Address = ADDRESS,
    currency: str = "USD",
) -> cmd.CreateOrder:
    return cmd.CreateOrder(
        order_id=order_id or uuid.uuid4(),
        customer_id=customer_id,
        items=items if items is not None else (line(),),
        shipping_address=shipping_address,
        currency=currency,
    )


def order_created(
    order_id: uuid.UUID,
    *,
    customer_id: str = "cust-1",
    items: tuple[LineItem, ...] | None = None,
    shipping_address: Address = ADDRESS,
    currency: str = "USD",
) -> ev.OrderCreated:
    return ev.OrderCreated(
        order_id=order_id,
        customer_id=customer_id,
        currency=currency,
        items=items if items is not None else (line(),),
        shipping_address=shipping_address,
    )


# --- JSON bodies for the API ----------------------------------------------------------------
def address_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "line1": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "US",
    }
    body.update(overrides)
    return body


def item_body(product_id: str = "sku-1", quantity: Any = 1, unit_price: Any = "10.00") -> dict:
    return {"product_id": product_id, "quantity": quantity, "unit_price": unit_price}


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "cust-1",
        "items": [item_body("sku-1", 2, "10.00"), item_body("sku-2", 1, "5.50")],
        "shipping_address": address_body(),
    }
    body.update(overrides)
    return body
