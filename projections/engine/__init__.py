"""The follower core: followers (named cursors over the log), leases with fencing, the batch
loop, failures, generations, wake-ups, read-your-writes waits.

It knows streams and events (``eventstore``), never orders nor tables: read models (and any
other follower) register with it; projections.read_models.toolkit builds projections on it.
"""
