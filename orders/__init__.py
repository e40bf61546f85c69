"""The order domain (pure Python core in orders.domain) and its command and history API."""
