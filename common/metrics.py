"""The metrics counted where things happen, in every process (web workers, Celery workers).

With PROMETHEUS_MULTIPROC_DIR set, each process writes its counts to files in that directory
and /metrics adds up every process's files (prometheus_client's multiprocess mode), so several
gunicorn workers and Celery worker processes are one service. Gauges of state (projection
positions and lag) are not here: /metrics reads them from the database (ops.metrics).
"""

from __future__ import annotations

import os
import socket
from typing import Final

from prometheus_client import Counter, Histogram, values

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Files are named after the writing process. Containers sharing the directory (web and
    # worker in docker-compose) reuse pids, so the host name is part of the name too.
    _HOST: Final = socket.gethostname().replace("_", "-")
    values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]
        lambda: f"{_HOST}-{os.getpid()}"
    )

COMMANDS = Counter(
    "orders_commands",
    "Order commands handled, by command type and outcome (ok, replayed or the error code).",
    ["command", "outcome"],
)
EVENTS_APPENDED = Counter(
    "eventstore_events_appended",
    "Events committed to the log, by stream type.",
    ["stream_type"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching Django to the response leaving it, by route and status.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROJECTION_BATCH_SECONDS = Histogram(
    "projection_batch_duration_seconds",
    "Time to apply one batch of events and move the checkpoint (one transaction).",
    ["projection"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CONSISTENCY_WAITS = Counter(
    "projection_consistency_waits",
    "Read-your-writes waits (queries with min_position), by how they ended: fresh, stale "
    "(timed out), beyond_head or busy (answered stale at once).",
    ["outcome"],
)
FEED_WAITS = Counter(
    "eventstore_feed_waits",
    "Long polls of the feed (GET /api/events with wait > 0 and nothing to answer at once), by "
    "how they ended: events, timeout, or busy (every wait of the process taken: answered at "
    "once).",
    ["outcome"],
)
FEED_EVENTS = Counter(
    "eventstore_feed_events",
    "Events answered by the feed (GET /api/events).",
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries",
    "Webhook delivery attempts, by webhook and outcome (delivered, http_4xx, http_5xx, "
    "http_3xx: a redirect, not followed; timeout, connection, url_not_allowed).",
    ["webhook", "outcome"],
)
WEBHOOK_RETRIES = Counter(
    "webhook_retries",
    "Webhook delivery attempts that retried an event an earlier attempt failed to deliver.",
    ["webhook"],
)
SUBSCRIBER_EVENTS = Counter(
    "subscriber_events",
    "Events a Python subscriber handled (committed with its checkpoint), by subscriber.",
    ["subscriber"],
)
