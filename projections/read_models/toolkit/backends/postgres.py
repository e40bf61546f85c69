"""The toolkit on PostgreSQL: a partition per generation, rows as JSON recordsets."""

from __future__ import annotations

from projections.read_models.toolkit.backends.base import TableBackend
from projections.read_models.toolkit.backends.postgres_partitions import PartitionedTables
from projections.read_models.toolkit.backends.postgres_rows import RecordsetRows


class PostgresTables(PartitionedTables, RecordsetRows, TableBackend):
    pass
