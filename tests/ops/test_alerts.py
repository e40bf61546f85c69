"""The shipped Prometheus alert rules (ops/alerts.yml): well formed, about metrics /metrics really
exports, and (with promtool) valid PromQL that fires in the cases of ops/alerts-test.yml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import current_app
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ops.heartbeats import beat
from ops.models import WorkerHeartbeat
from projections.engine import runner

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "alerts.yml"
CASES = ROOT / "ops" / "alerts-test.yml"
# What the rules must say something about (issue: lag, failed projection, worker absent,
# broker down, database down; a webhook disabled or a subscriber stopped).
REQUIRED = {
    "OrdersDatabaseDown",
    "OrdersDatabaseReadOnly",
    "OrdersBrokerDown",
    "OrdersWorkerAbsent",
    "OrdersProjectionLagging",
    "OrdersProjectionFailed",
    "OrdersFollowerStopped",
}
# PromQL's own words: anything else that is a name and not a function call is a metric.
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    text = re.sub(r'"[^"]*"', "", expr)  # label values
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)  # matchers and ranges
    text = _LABEL_LISTS.sub("", text)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
    return {name for name in names if name.lower() not in _KEYWORDS}


def test_metric_names_are_read_from_promql() -> None:
    expr = 'max by (projection) (rate(x_total{a="b c"}[5m])) > 1 or on() absent(y) and z == 0'
    assert metric_names(expr) == {"x_total", "y", "z"}


def test_the_rules_cover_the_service_and_are_complete() -> None:
    found = rules()

    assert {rule["alert"] for rule in found} == REQUIRED
    assert len(found) == len(REQUIRED)
    for rule in found:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


@pytest.mark.django_db(transaction=True)
def test_every_metric_the_rules_name_is_exported(client: Client) -> None:
    for name in ("customer_summaries", "daily_sales", "order_views"):
        runner.active_state(name)
    beat("celery@test-host")
    saved = current_app.conf.broker_url
    current_app.conf.broker_url = "redis://127.0.0.1:1/0"  # a broker, unreachable: reported 0
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
            response = client.get("/metrics")
    finally:
        current_app.conf.broker_url = saved
    exported = {
        sample.name
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }

    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)


def _promtool() -> str:
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not found (scripts/test.sh unpacks Debian's prometheus package)")
    return promtool


def test_promtool_accepts_the_rules_and_they_fire_in_their_cases() -> None:
    promtool = _promtool()

    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    cases = subprocess.run(
        [promtool, "test", "rules", str(CASES)], capture_output=True, text=True, check=False
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(REQUIRED)} rules found" in checked.stdout
    assert cases.returncode == 0, cases.stdout + cases.stderr


@pytest.mark.django_db(transaction=True)
def test_the_worker_absence_the_rules_read_is_recorded_at_most_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("ops.heartbeats.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("ops.heartbeats._last_written", {})

    beat("celery@a")
    first = WorkerHeartbeat.objects.get(worker="celery@a").seen_at
    clock[0] += 1
    beat("celery@a")
    assert WorkerHeartbeat.objects.get(worker="celery@a").seen_at == first  # a moment ago
    clock[0] += 5
    beat("celery@a")

    assert WorkerHeartbeat.objects.get(worker="celery@a").seen_at > first
    assert WorkerHeartbeat.objects.get().seen_at <= timezone.now()
