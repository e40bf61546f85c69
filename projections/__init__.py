"""The generic projection runner, the order read models and the query API."""
