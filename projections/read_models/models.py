"""The order read models' tables.

Rows carry a ``generation``: a rebuild fills a new generation while queries keep reading the
active one, then switches (see projections.engine). Only projectors write here.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from projections.read_models.search import Matches

# Digits of the amount columns (docs/decisions.md, "How large read-model numbers grow"). One
# order's amounts are bounded by the domain's limits (orders.domain.values): its total by
# MAX_DISTINCT_PRODUCTS x MAX_QUANTITY x MAX_UNIT_PRICE. A sum over orders (a customer's lifetime
# value, a day's revenue) holds as many of the largest orders as its bigint count can count.
ORDER_AMOUNT_DIGITS = 16
SUM_AMOUNT_DIGITS = 34


# --- order_views ----------------------------------------------------------------------------
class OrderView(models.Model):
    generation = models.PositiveIntegerField()
    order_id = models.UUIDField()
    customer_id = models.CharField(max_length=64)
    status = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    total_amount = models.DecimalField(max_digits=ORDER_AMOUNT_DIGITS, decimal_places=2)
    item_count = models.PositiveIntegerField()
    shipping_address = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True)
    cancelled_at = models.DateTimeField(null=True)
    cancel_reason = models.CharField(max_length=500, null=True)  # noqa: DJ001 - null: none given
    carrier = models.CharField(max_length=100, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    version = models.PositiveIntegerField()
    # Customer id, product ids, city and cancel reason: what `q` searches (full text on PG).
    search_text = models.TextField(default="")
    # Not a column: the order's items, attached by the selectors (OrderViewItem rows).
    items: list[OrderViewItem]

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "order_id"], name="order_view_order")
        ]
        indexes = [
            models.Index(fields=["generation", "customer_id", "-created_at"], name="ov_customer"),
            models.Index(fields=["generation", "-created_at"], name="ov_created"),
            models.Index(fields=["generation", "status", "-created_at"], name="ov_status"),
            models.Index(fields=["generation", "total_amount"], name="ov_total"),
            models.Index(fields=["generation", "item_count"], name="ov_item_count"),
            models.Index(fields=["generation", "updated_at"], name="ov_updated"),
        ]

    def __str__(self) -> str:
        return f"Order {self.order_id} ({self.status})"


OrderView._meta.get_field("search_text").register_lookup(Matches)


class OrderViewItem(models.Model):
    generation = models.PositiveIntegerField()
    order_id = models.UUIDField()
    line_no = models.PositiveIntegerField()
    product_id = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_total = models.DecimalField(max_digits=ORDER_AMOUNT_DIGITS, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "order_id", "product_id"], name="order_view_item_product"
            )
        ]
        ordering = ["order_id", "line_no"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class OrderStatusCount(models.Model):
    """How many orders of a generation have a status: a search's ``total`` without a COUNT.

    Moved by signed deltas in the batch that writes the order views, so it always agrees with
    them (docs/decisions.md, "Exact totals of broad searches").
    """

    generation = models.IntegerField()
    status = models.CharField(max_length=20)
    # Plain (not positive) integer: projectors upsert signed deltas.
    order_count = models.BigIntegerField()
    # The shard whose batches wrote this part of the row: shards never write one row, and a
    # reader sums the parts (docs/scaling.md, "Shards"). 0 when the projection is one shard.
    shard = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "status", "shard"], name="order_status_count"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_count} orders {self.status}"


class OrderTermCount(models.Model):
    """How many orders of a generation with a status have a word in their ``search_text``: the
    total of a one-word search without a COUNT (PostgreSQL only; elsewhere the search counts).

    A term is a lexeme of ``to_tsvector('simple', search_text)`` (the expression the search
    matches), worked out by PostgreSQL itself; moved by signed deltas in the statement that
    moves the per-status counts (docs/decisions.md, "Exact totals of one-word searches").
    """

    generation = models.IntegerField()
    term = models.TextField()
    status = models.CharField(max_length=20)
    order_count = models.BigIntegerField()
    # The shard whose batches wrote this part of the row: shards never write one row, and a
    # reader sums the parts (docs/scaling.md, "Shards"). 0 when the projection is one shard.
    shard = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "term", "status", "shard"], name="order_term_count"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_count} orders {self.status} with {self.term!r}"


# --- per-order facts behind the customer summaries and the daily sales -----------------------
class OrderFact(models.Model):
    """What an aggregate report needs of one order; each report projection keeps its own."""

    generation = models.PositiveIntegerField()
    order_id = models.UUIDField()
    customer_id = models.CharField(max_length=64)
    status = models.CharField(max_length=20)
    lines = models.JSONField(encoder=DjangoJSONEncoder, default=list)
    total_amount = models.DecimalField(max_digits=ORDER_AMOUNT_DIGITS, decimal_places=2)
    item_count = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True)
    cancelled_at = models.DateTimeField(null=True)

    class Meta:
        abstract = True


class CustomerOrderFact(OrderFact):
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "order_id"], name="customer_fact_order")
        ]
        indexes = [models.Index(fields=["generation", "customer_id"], name="cof_customer")]

    def __str__(self) -> str:
        return f"Order {self.order_id} of {self.customer_id}"


class SalesOrderFact(OrderFact):
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "order_id"], name="sales_fact_order")
        ]
        indexes = [
            models.Index(fields=["generation", "created_at"], name="sof_created"),
            models.Index(fields=["generation", "shipped_at"], name="sof_shipped"),
            models.Index(fields=["generation", "cancelled_at"], name="sof_cancelled"),
        ]

    def __str__(self) -> str:
        return f"Order {self.order_id} placed {self.created_at:%Y-%m-%d}"


class CustomerSummary(models.Model):
    # Plain (not positive) integers: projectors upsert signed deltas, see read_models.
    generation = models.IntegerField()
    customer_id = models.CharField(max_length=64)
    order_count = models.BigIntegerField()
    open_order_count = models.BigIntegerField()
    cancelled_count = models.BigIntegerField()
    lifetime_value = models.DecimalField(max_digits=SUM_AMOUNT_DIGITS, decimal_places=2)
    last_order_at = models.DateTimeField(null=True)
    # The shard whose batches wrote this part of the row: shards never write one row, and a
    # reader sums the parts (docs/scaling.md, "Shards"). 0 when the projection is one shard.
    shard = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "customer_id", "shard"], name="customer_summary_customer"
            )
        ]
        verbose_name_plural = "customer summaries"

    def __str__(self) -> str:
        return f"Customer {self.customer_id}"


class DailySales(models.Model):
    generation = models.IntegerField()
    date = models.DateField()
    orders_placed = models.BigIntegerField()
    orders_cancelled = models.BigIntegerField()
    orders_shipped = models.BigIntegerField()
    gross_revenue = models.DecimalField(max_digits=SUM_AMOUNT_DIGITS, decimal_places=2)
    items_sold = models.BigIntegerField()
    # The shard whose batches wrote this part of the row: shards never write one row, and a
    # reader sums the parts (docs/scaling.md, "Shards"). 0 when the projection is one shard.
    shard = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "date", "shard"], name="daily_sales_date")
        ]
        verbose_name_plural = "daily sales"
        ordering = ["date"]

    def __str__(self) -> str:
        return f"Sales on {self.date}"
