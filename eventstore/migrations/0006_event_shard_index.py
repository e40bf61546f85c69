"""PostgreSQL only: the index a shard of the log is read through.

Each event's bucket is a stable hash of its stream id, ``hashtextextended(stream_id, 0) & 15``
(eventstore.records.BUCKETS), kept as the leading key of an index on (bucket, tx_id,
global_position): shard k of N (a power of two) reads its buckets' ranges in gap-safe order,
merged, and nothing of the other shards (eventstore.backends.postgres.read_shard_sql).

The bucket lives in the index, not in a column of the table: adding a stored generated column
rewrites the whole table and every index under an ACCESS EXCLUSIVE lock (appends and reads
stopped meanwhile), and filling a plain column would UPDATE every row of an append-only table.
The index is built CONCURRENTLY (appends go on; the build scans the table twice) and costs
each append one more index entry. Figures at 1M events: docs/scaling.md ("Shards").
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FORWARD = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS eventstore_event_shard
    ON eventstore_event ((hashtextextended(stream_id, 0) & 15), tx_id, global_position)
"""
# A build that failed (or was stopped) leaves an invalid index behind: drop it and build again.
DROP_INVALID = """
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_index WHERE indexrelid = 'eventstore_event_shard'::regclass
               AND NOT indisvalid) THEN
        DROP INDEX eventstore_event_shard;
    END IF;
EXCEPTION WHEN undefined_table THEN NULL;
END $$
"""
BACKWARD = "DROP INDEX CONCURRENTLY IF EXISTS eventstore_event_shard"


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_INVALID, params=None)
        schema_editor.execute(FORWARD, params=None)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False
    dependencies = [("eventstore", "0005_feed")]
    operations = [migrations.RunPython(forward, backward)]
