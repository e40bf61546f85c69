"""A big shop for the back office's browser test: many orders written to the log by SQL in one
statement, as an import would, for the projections to catch up with."""

from __future__ import annotations

from django.db import connection, transaction

# Order i: created with one item, an item added, then shipped (i % 3 = 0), cancelled (1) or
# given a new address (2); recorded over the 30 days before now, a few seconds apart.
ORDERS_SQL = """
WITH o AS (
    SELECT i,
           md5('big-order-' || i)::uuid AS order_id,
           'customer-' || (i %% 2000) AS customer_id,
           'SKU-' || lpad((i %% 300)::text, 3, '0') AS p1,
           'SKU-' || lpad(((i + 150) %% 300)::text, 3, '0') AS p2,
           (ARRAY['Berlin', 'Lisbon', 'Oslo', 'Austin', 'Kyoto', 'Lyon'])[1 + i %% 6] AS city,
           now() - interval '30 days' + i * (interval '30 days' / %(orders)s) AS at
    FROM generate_series(1, %(orders)s) AS i
)
INSERT INTO eventstore_event (event_id, stream_id, stream_type, version, event_type,
                              schema_version, data, metadata, recorded_at)
SELECT md5('big-event-' || o.i || '-' || v)::uuid, 'Order-' || o.order_id, 'Order', v,
       CASE v WHEN 1 THEN 'OrderCreated' WHEN 2 THEN 'OrderItemAdded'
              ELSE (ARRAY['OrderShipped', 'OrderCancelled', 'ShippingAddressChanged'])[1 + o.i %% 3]
       END,
       1,
       CASE v
         WHEN 1 THEN jsonb_build_object('order_id', o.order_id, 'customer_id', o.customer_id,
              'currency', 'USD',
              'items', jsonb_build_array(jsonb_build_object(
                  'product_id', o.p1, 'quantity', 1 + o.i %% 4, 'unit_price', '19.90')),
              'shipping_address', jsonb_build_object('line1', '1 Main St', 'line2', '',
                  'city', o.city, 'postal_code', '10115', 'country', 'DE'))
         WHEN 2 THEN jsonb_build_object('order_id', o.order_id, 'product_id', o.p2,
              'quantity', 2, 'unit_price', '7.50')
         ELSE CASE o.i %% 3
           WHEN 0 THEN jsonb_build_object('order_id', o.order_id, 'carrier', 'UPS',
                'tracking_number', '1Z' || o.i)
           WHEN 1 THEN jsonb_build_object('order_id', o.order_id, 'reason', 'changed mind')
           ELSE jsonb_build_object('order_id', o.order_id, 'shipping_address',
                jsonb_build_object('line1', '2 Side St', 'line2', '', 'city', 'Porto',
                    'postal_code', '4000', 'country', 'PT')) END
       END,
       jsonb_build_object('actor', 'import', 'correlation_id', md5('big-' || o.i || '-' || v),
                          'command_type', 'Import'),
       o.at + (v - 1) * interval '1 second'
FROM o CROSS JOIN generate_series(1, 3) AS v
ORDER BY o.i, v
"""


def fill_orders(orders: int) -> None:
    """``orders`` orders of three events each, in one statement (one transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ORDERS_SQL, {"orders": orders})
