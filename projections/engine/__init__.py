"""The generic projection engine: catch-up, checkpoints, failures, generations, wake-ups.

It knows streams and events (``eventstore``), never orders: read models register with it.
"""
