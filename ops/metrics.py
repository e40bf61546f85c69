"""GET /metrics: Prometheus text, counted in-process (all processes) or read from the database.

Counters and histograms of things that happen (commands, appends, requests, projection batches,
read-your-writes waits; common.metrics) are counted by the process they happen in and added up
across processes by prometheus_client's multiprocess mode. The state of the projections
(position, head, lag, status, failed and skipped events) and the workers' heartbeats
(ops.heartbeats) are read from the database at scrape time: the same whichever process
answers, they survive restarts, and no process holds them. Whether the database answers and
takes writes, and whether the broker answers, is asked at scrape time too (ops.checks).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common.http.errors import error_body
from eventstore.store import head_position
from integrations.status import follower_status_list
from ops import checks
from ops.models import WorkerHeartbeat
from projections.engine.models import ProjectionSkip, ProjectionStatus
from projections.engine.status import projection_status_list

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("running", "stalled", "failed", "rebuilding")
WORKER_SHOWN_FOR = timedelta(days=1)


def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    body = generate_latest(_in_process()) + generate_latest(_FROM_DATABASE)
    return HttpResponse(body, content_type=CONTENT_TYPE)


def _refusal(request: HttpRequest) -> JsonResponse | None:
    """With METRICS_TOKEN, a scrape needs ``Authorization: Bearer <token>``; without one, only
    a scraper on this machine may read (and not through a proxy, which would look local)."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not given:
            response = JsonResponse(
                error_body("not_authenticated", "A bearer token is needed to read metrics."),
                status=401,
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return JsonResponse(error_body("permission_denied", "Wrong metrics token."), status=403)
    if _from_this_machine(request):
        return None
    message = "Metrics are served to this machine only unless METRICS_TOKEN is set."
    return JsonResponse(error_body("permission_denied", message), status=403)


def _from_this_machine(request: HttpRequest) -> bool:
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _in_process() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY  # one process (runserver, tests): its own counts


class DatabaseCollector(Collector):
    """The projections' and workers' state as the database has it at scrape time, and whether
    the database and the broker answer."""

    def collect(self) -> Iterator[Metric]:
        yield from self._broker_metrics()
        up = GaugeMetricFamily("orders_database_up", "1 if the database answered this scrape.")
        try:
            metrics = [
                *self._projection_metrics(),
                *self._integration_metrics(),
                self._worker_metrics(),
            ]
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        writable = GaugeMetricFamily(
            "orders_database_writable",
            "1 if the database takes writes (0: a standby, or default_transaction_read_only).",
        )
        writable.add_metric([], int(checks.database() == checks.OK))
        yield writable
        yield from metrics

    def _broker_metrics(self) -> Iterator[Metric]:
        state = checks.broker()
        if state == checks.EAGER:
            return  # no broker configured: tasks run in-process
        up = GaugeMetricFamily("orders_broker_up", "1 if the broker answered a PING this scrape.")
        up.add_metric([], int(state == checks.OK))
        yield up

    def _integration_metrics(self) -> Iterator[Metric]:
        return _integration_metrics()

    def _worker_metrics(self) -> Metric:
        age = GaugeMetricFamily(
            "orders_worker_last_task_age_seconds",
            "Seconds since a Celery worker last started a task (beat sends one every few "
            "seconds); workers not seen for a day are left out.",
            labels=["worker"],
        )
        now = timezone.now()
        for heartbeat in WorkerHeartbeat.objects.filter(seen_at__gte=now - WORKER_SHOWN_FOR):
            seconds = max((now - heartbeat.seen_at).total_seconds(), 0.0)
            age.add_metric([heartbeat.worker], round(seconds, 3))
        return age

    def _projection_metrics(self) -> Iterator[Metric]:
        labels = ["projection"]
        head = GaugeMetricFamily("eventstore_head_position", "Global position of the last event.")
        head.add_metric([], head_position())
        yield head
        position = GaugeMetricFamily(
            "projection_position", "Log position the projection has applied up to.", labels=labels
        )
        lag_events = GaugeMetricFamily(
            "projection_lag_events", "Committed events not applied yet.", labels=labels
        )
        lag_seconds = GaugeMetricFamily(
            "projection_lag_seconds", "Age of the oldest event not applied yet.", labels=labels
        )
        status = GaugeMetricFamily(
            "projection_status",
            "1 for the projection's current status.",
            labels=[*labels, "status"],
        )
        failed = GaugeMetricFamily(
            "projection_failed_events",
            "Events a projection is stopped on (1 when failed: an operator must retry or skip).",
            labels=labels,
        )
        shard_labels = [*labels, "shard"]
        shard_position = GaugeMetricFamily(
            "projection_shard_position",
            "Log position a shard of the projection has applied up to.",
            labels=shard_labels,
        )
        shard_lag = GaugeMetricFamily(
            "projection_shard_lag_events",
            "Committed events of a shard not applied yet.",
            labels=shard_labels,
        )
        shard_owned = GaugeMetricFamily(
            "projection_shard_owned",
            "1 while a worker holds the shard's lease (owner: the worker).",
            labels=[*shard_labels, "owner"],
        )
        names = []
        for row in projection_status_list():
            for shard in row["shards"]:
                key = [row["name"], str(shard["index"])]
                shard_position.add_metric(key, shard["position"])
                shard_lag.add_metric(key, shard["lag_events"])
                shard_owned.add_metric([*key, shard["owner"]], int(bool(shard["owner"])))
            name = row["name"]
            names.append(name)
            position.add_metric([name], row["position"])
            lag_events.add_metric([name], row["lag_events"])
            lag_seconds.add_metric([name], row["lag_seconds"])
            for value in STATUSES:
                status.add_metric([name, value], int(row["status"] == value))
            failed.add_metric([name], int(row["status"] == ProjectionStatus.FAILED))
        skipped = CounterMetricFamily(
            "projection_skipped_events", "Events operators skipped (recorded).", labels=labels
        )
        counts = dict(
            ProjectionSkip.objects.values("name").annotate(n=Count("id")).values_list("name", "n")
        )
        for name in sorted({*names, *counts}):
            skipped.add_metric([name], counts.get(name, 0))
        yield from (position, lag_events, lag_seconds, status, failed, skipped)
        yield from (shard_position, shard_lag, shard_owned)


INTEGRATION_STATUSES = ("active", "failing", "disabled", "running", "stalled", "failed")


def _integration_metrics() -> Iterator[Metric]:
    """Each webhook's and subscriber's lag and status (their deliveries and retries are
    counted where they happen: common.metrics)."""
    labels = ["follower", "kind"]
    lag_events = GaugeMetricFamily(
        "integration_lag_events",
        "Events a webhook or Python subscriber has not delivered or handled yet.",
        labels=labels,
    )
    lag_seconds = GaugeMetricFamily(
        "integration_lag_seconds",
        "Age of the oldest event a webhook or subscriber has not delivered or handled yet.",
        labels=labels,
    )
    status = GaugeMetricFamily(
        "integration_status",
        "1 for the webhook's (active, failing, disabled) or subscriber's (running, stalled, "
        "failed) current status.",
        labels=[*labels, "status"],
    )
    for row in follower_status_list():
        lag_events.add_metric([row.name, row.kind], row.lag_events)
        lag_seconds.add_metric([row.name, row.kind], row.lag_seconds)
        for value in INTEGRATION_STATUSES:
            status.add_metric([row.name, row.kind, value], int(row.status == value))
    yield from (lag_events, lag_seconds, status)


_FROM_DATABASE = CollectorRegistry()
_FROM_DATABASE.register(DatabaseCollector())
