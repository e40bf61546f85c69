"""The read-model toolkit: what a projection (a follower with tables) is built from.

Generations as partitions (PostgreSQL) or a generation column (SQLite), set-based table
writers, counts by status and by word, and a rebuilt generation's attachment. The engine
(projections.engine) knows none of it: it runs followers and calls their generation hooks.
"""
